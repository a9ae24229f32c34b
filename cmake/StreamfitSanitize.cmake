# STREAMFIT_SANITIZE=address,undefined builds everything with those sanitizers.
if(STREAMFIT_SANITIZE)
  set(_sf_san "-fsanitize=${STREAMFIT_SANITIZE}" -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${_sf_san}>")
  add_link_options(${_sf_san})
endif()

if(STREAMFIT_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "STREAMFIT_FUZZ needs clang (CC=clang CXX=clang++)")
  endif()
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:-fsanitize=fuzzer-no-link>")
endif()
