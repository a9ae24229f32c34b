# Build options. STREAMFIT_CUDA is AUTO by default: on when a CUDA compiler is found.
include(CheckLanguage)

set(STREAMFIT_CUDA AUTO CACHE STRING "Build the CUDA backend (AUTO, ON, OFF)")
set_property(CACHE STREAMFIT_CUDA PROPERTY STRINGS AUTO ON OFF)
# MPI (Open MPI from Debian's libopenmpi-dev): AUTO builds it in when found.
set(STREAMFIT_MPI AUTO CACHE STRING "Build in MPI for multi-process and multi-node runs (AUTO, ON, OFF)")
set_property(CACHE STREAMFIT_MPI PROPERTY STRINGS AUTO ON OFF)
option(STREAMFIT_KAFKA "Build the Kafka source, sink and development broker (librdkafka)" ON)
# The live page and /metrics (libmicrohttpd + Debian's libjs-chart.js): on when both are found.
set(STREAMFIT_HTTP AUTO CACHE STRING "Build the HTTP server of streamfit stream --http (AUTO, ON, OFF)")
set_property(CACHE STREAMFIT_HTTP PROPERTY STRINGS AUTO ON OFF)
set(STREAMFIT_SANITIZE "" CACHE STRING "Sanitizers to build with, e.g. address,undefined")
option(STREAMFIT_BENCH "Build the Google Benchmark harness" ON)
# Warnings are errors by default; a build on an unknown compiler (a GPU machine
# checked once, say) turns this off so that one new warning does not stop it.
# libFuzzer targets (tests/fuzz), with clang only; everything is then built
# with coverage instrumentation (-fsanitize=fuzzer-no-link).
option(STREAMFIT_FUZZ "Build the libFuzzer targets (clang)" OFF)
option(STREAMFIT_WERROR "Treat compiler warnings as errors" ON)

set(STREAMFIT_CUDA_ENABLED OFF)
if(NOT STREAMFIT_CUDA STREQUAL "OFF")
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(STREAMFIT_CUDA_ENABLED ON)
  elseif(STREAMFIT_CUDA STREQUAL "ON")
    message(FATAL_ERROR "STREAMFIT_CUDA=ON but no CUDA compiler was found")
  endif()
endif()
