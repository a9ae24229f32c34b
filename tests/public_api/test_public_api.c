/*
 * test_public_api.c — a program that sees only the installed headers and
 * links the shared library: each header compiles alone in C and C++ (the
 * header_*.c / header_*.cpp files beside this one), the calls it makes are
 * exported, and the library's run-time version is the headers' version.
 */
#include <stdio.h>
#include <string.h>

#include <streamfit.h>

const char *sf_header_streamfit_c(void);
int sf_header_stream_c(void);
const char *sf_header_streamfit_cxx(void);
int sf_header_stream_cxx(void);

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

int main(void)
{
    CHECK(sf_version() == SF_VERSION);
    CHECK(strcmp(sf_version_string(), SF_VERSION_STRING) == 0);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", SF_VERSION_MAJOR, SF_VERSION_MINOR,
             SF_VERSION_PATCH);
    CHECK(strcmp(sf_version_string(), expect) == 0);
    CHECK(SF_VERSION == SF_VERSION_MAJOR * 65536 + SF_VERSION_MINOR * 256 + SF_VERSION_PATCH);
    /* the number orders releases: each part below 256 */
    CHECK(SF_VERSION_MINOR < 256 && SF_VERSION_PATCH < 256);

    sf_build_info info;
    sf_get_build_info(&info);
    CHECK(strcmp(info.version, SF_VERSION_STRING) == 0);

    CHECK(strcmp(sf_header_streamfit_c(), sf_strerror(SF_OK)) == 0);
    CHECK(sf_header_stream_c() > 0);
    CHECK(strcmp(sf_header_streamfit_cxx(), SF_VERSION_STRING) == 0);
    CHECK(sf_header_stream_cxx() == 0); /* SF_RECORD_CSV */
    if (failures) return 1;
    printf("public API: version %s (0x%06x), headers alone in C and C++: ok\n", sf_version_string(),
           (unsigned)sf_version());
    return 0;
}
