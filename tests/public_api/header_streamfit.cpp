// streamfit.h compiles on its own in C++ and gives C linkage.
#include <streamfit.h>

extern "C" const char *sf_header_streamfit_cxx(void);
extern "C" const char *sf_header_streamfit_cxx(void) { return sf_version_string(); }
