# Warnings are errors on every telering target; set per target so consumers are not affected.
function(telering_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor)
endfunction()
