# Warnings on every telering target, set per target (PRIVATE) so consumers are not affected.
# They are errors only with TELERING_WARNINGS_AS_ERRORS, which scripts/test.sh and CI turn on:
# a user's build, or a project that embeds telering, must not fail on a warning that a newer
# compiler adds.
set(TELERING_WARNING_FLAGS -Wall -Wextra -Wshadow -Wnon-virtual-dtor)
# GCC 12 at -O3 (Release) reports -Wrestrict inside libstdc++ wherever `"text" + std::string&&`
# is inlined ("__builtin_memcpy accessing 9223372036854775810 or more bytes ... may overlap"):
# operator+ becomes insert(0, "text") and the compiler cannot see that the two buffers are
# apart. A dozen places in the tree use that idiom; none copies overlapping memory. So the
# warning is off for GCC 12 only: other compilers keep it, and ASan (memcpy-param-overlap)
# checks the copies that really run in CI.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_GREATER_EQUAL 12
   AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND TELERING_WARNING_FLAGS $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
endif()
set(TELERING_WERROR "")
if(TELERING_WARNINGS_AS_ERRORS)
  set(TELERING_WERROR -Werror)
endif()
function(telering_warnings target)
  target_compile_options(${target} PRIVATE ${TELERING_WARNING_FLAGS} ${TELERING_WERROR})
endfunction()
