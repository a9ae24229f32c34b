/*
 * version.c — the version of the library that is linked or loaded, for
 * programs that compare it with the SF_VERSION of the headers they were
 * built with.
 */
#include "streamfit.h"

int sf_version(void) { return SF_VERSION; }

const char *sf_version_string(void) { return SF_VERSION_STRING; }
