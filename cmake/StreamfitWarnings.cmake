# Warnings for the project's own C, C++ and CUDA code; errors unless
# STREAMFIT_WERROR is OFF.
if(STREAMFIT_WERROR)
  set(STREAMFIT_WERROR_FLAG -Werror)
  set(STREAMFIT_CUDA_WERROR_FLAGS -Xcompiler=-Werror --Werror=all-warnings)
else()
  set(STREAMFIT_WERROR_FLAG "")
  set(STREAMFIT_CUDA_WERROR_FLAGS "")
endif()

function(streamfit_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra ${STREAMFIT_WERROR_FLAG} -Wshadow -Wstrict-prototypes>
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra ${STREAMFIT_WERROR_FLAG}>)
endfunction()
