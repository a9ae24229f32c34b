// streamfit_stream.h compiles on its own in C++.
#include <streamfit_stream.h>

extern "C" int sf_header_stream_cxx(void);
extern "C" int sf_header_stream_cxx(void)
{
    sf_stream_options o;
    sf_stream_options_init(&o);
    return static_cast<int>(o.format);
}
