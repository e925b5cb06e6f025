# Cross-process and MPSC stress suites (included from tests/CMakeLists.txt).
#
#   ctest -L cross_process        writer processes + a consumer, segment and lane tests
#   ctest -L stress               the heavy multi-thread runs (exclude with -LE stress)
#   TELERING_TEST_SEED=<n> ctest  replays a randomised run (the seed is printed)

# The bot stand-in the cross-process tests fork and exec.
add_executable(telering_test_writer helpers/test_writer_main.cpp)
telering_warnings(telering_test_writer)
target_link_libraries(telering_test_writer PRIVATE telering::writer)

telering_add_test(test_cross_process
  SOURCES test_cross_process.cpp
  LIBS telering::writer
  LABELS cross_process)
target_compile_definitions(test_cross_process PRIVATE
  TELERING_TEST_WRITER="$<TARGET_FILE:telering_test_writer>")
add_dependencies(test_cross_process telering_test_writer)

# One source, two executables: the quick deterministic MPSC tests (suite Mpsc) and the
# heavy multi-thread ones (suite MpscStress, label stress), so `-LE stress` stays quick.
# One label each: telering_add_test forwards LABELS through gtest_discover_tests'
# PROPERTIES, which flattens a list ("a;b" would become LABELS a plus a property named b).
telering_add_test(test_mpsc
  SOURCES test_mpsc_stress.cpp
  LIBS telering::writer
  LABELS mpsc)
target_compile_definitions(test_mpsc PRIVATE TELERING_MPSC_STRESS=0)
telering_add_test(test_mpsc_stress
  SOURCES test_mpsc_stress.cpp
  LIBS telering::writer
  LABELS stress)
target_compile_definitions(test_mpsc_stress PRIVATE TELERING_MPSC_STRESS=1)
