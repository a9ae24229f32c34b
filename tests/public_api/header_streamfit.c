/* streamfit.h compiles on its own in C (nothing before it, nothing after). */
#include <streamfit.h>

const char *sf_header_streamfit_c(void);
const char *sf_header_streamfit_c(void) { return sf_strerror(SF_OK); }
