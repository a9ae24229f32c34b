# STREAMFIT_SANITIZE=address,undefined builds everything with those sanitizers.
if(STREAMFIT_SANITIZE)
  set(_sf_san "-fsanitize=${STREAMFIT_SANITIZE}" -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${_sf_san}>")
  add_link_options(${_sf_san})
endif()
