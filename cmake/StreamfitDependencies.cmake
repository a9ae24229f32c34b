# Third-party libraries, all from Debian packages, gathered in one interface
# target (streamfit::deps) so that every target links the same set.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS C)
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
pkg_check_modules(LAPACKE REQUIRED IMPORTED_TARGET lapacke)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
find_path(FAST_FLOAT_INCLUDE_DIR fast_float/fast_float.h REQUIRED)
pkg_check_modules(FMT REQUIRED IMPORTED_TARGET fmt) # shortest round-trip numbers in outputs
if(STREAMFIT_KAFKA)
  pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
endif()

# The HTTP server (streamfit stream --http): libmicrohttpd, and the page's
# charts from Debian's libjs-chart.js (compiled in from where the package
# puts it). Optional like Kafka: AUTO turns it on when both are there.
set(STREAMFIT_HTTP_ENABLED OFF)
if(NOT STREAMFIT_HTTP STREQUAL "OFF")
  pkg_check_modules(MHD IMPORTED_TARGET libmicrohttpd)
  find_file(STREAMFIT_CHARTJS chart.min.js PATHS /usr/share/javascript/chart.js NO_DEFAULT_PATH)
  if(MHD_FOUND AND STREAMFIT_CHARTJS)
    set(STREAMFIT_HTTP_ENABLED ON)
  elseif(STREAMFIT_HTTP STREQUAL "ON")
    message(FATAL_ERROR "STREAMFIT_HTTP=ON needs libmicrohttpd-dev and libjs-chart.js")
  endif()
endif()

add_library(streamfit_deps INTERFACE)
add_library(streamfit::deps ALIAS streamfit_deps)
target_link_libraries(streamfit_deps INTERFACE
  PkgConfig::OPENBLAS PkgConfig::LAPACKE PkgConfig::CJSON PkgConfig::FMT Threads::Threads OpenMP::OpenMP_C m)
target_include_directories(streamfit_deps INTERFACE ${FAST_FLOAT_INCLUDE_DIR})
if(STREAMFIT_KAFKA)
  target_link_libraries(streamfit_deps INTERFACE PkgConfig::RDKAFKA)
  target_compile_definitions(streamfit_deps INTERFACE STREAMFIT_HAVE_KAFKA)
endif()
if(STREAMFIT_HTTP_ENABLED)
  target_link_libraries(streamfit_deps INTERFACE PkgConfig::MHD)
  target_compile_definitions(streamfit_deps INTERFACE STREAMFIT_HAVE_HTTP)
endif()
install(TARGETS streamfit_deps EXPORT streamfitTargets)

function(streamfit_print_summary)
  message(STATUS "streamfit ${PROJECT_VERSION} configuration:")
  message(STATUS "  build type      ${CMAKE_BUILD_TYPE}")
  message(STATUS "  BLAS/LAPACK     OpenBLAS ${OPENBLAS_VERSION}, LAPACKE ${LAPACKE_VERSION}")
  message(STATUS "  Kafka           ${STREAMFIT_KAFKA} (librdkafka ${RDKAFKA_VERSION})")
  message(STATUS "  HTTP            ${STREAMFIT_HTTP_ENABLED} (libmicrohttpd ${MHD_VERSION}, ${STREAMFIT_CHARTJS})")
  message(STATUS "  CUDA compiler   ${CMAKE_CUDA_COMPILER}")
  message(STATUS "  CUDA backend    ${STREAMFIT_CUDA_ENABLED} (architectures ${CMAKE_CUDA_ARCHITECTURES})")
  message(STATUS "  warnings        errors: ${STREAMFIT_WERROR}")
  message(STATUS "  sanitizers      ${STREAMFIT_SANITIZE}")
endfunction()
