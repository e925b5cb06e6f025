# Fault tests and the soak (issue 5, items 2, 3, 5). Included from tests/CMakeLists.txt.
#
#   ctest -L faults                 dead writers, a stuck shared-lane claim, a dead reader,
#                                   random bytes in a live segment (each < 10 s)
#   TELERING_TEST_SEED=<n> ctest    replays the random-bytes test (the seed is printed)
#   scripts/soak.sh                 the soak (telering_soak), opt-in; SOAK_SECONDS, TELERING_SOAK_SEED
if(NOT TELERING_BUILD_READER)
  return()
endif()

add_executable(test_faults test_faults.cpp)
telering_warnings(test_faults)
target_link_libraries(test_faults PRIVATE telering::writer GTest::gtest GTest::gtest_main)
target_compile_definitions(test_faults PRIVATE
  TELERING_READER_EXE="$<TARGET_FILE:telering-reader>"
  TELERING_STAT_EXE="$<TARGET_FILE:telering-stat>"
  TELERING_TEST_WRITER="$<TARGET_FILE:telering_test_writer>")
add_dependencies(test_faults telering-reader telering-stat telering_test_writer)
gtest_discover_tests(test_faults DISCOVERY_TIMEOUT 30 PROPERTIES LABELS faults TIMEOUT 60)

# The soak: one executable that is the orchestrator and, re-executed, each writer and the
# consumer. Not a CTest test (it runs for minutes); scripts/soak.sh runs it.
add_executable(telering_soak soak/soak_main.cpp)
telering_warnings(telering_soak)
target_link_libraries(telering_soak PRIVATE telering::writer)
target_include_directories(telering_soak PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
