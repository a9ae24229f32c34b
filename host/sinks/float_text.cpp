/*
 * float_text.cpp — float_text.h on libfmt: its "{}" for a double is the
 * shortest round-trip representation, without locale and without printf.
 */
#include "float_text.h"

#include <algorithm>

#include <fmt/compile.h>
#include <fmt/format.h>

extern "C" size_t sf_float_text(double v, char *out)
{
    char *end = fmt::format_to(out, FMT_COMPILE("{}"), v);
    return static_cast<size_t>(end - out);
}

extern "C" size_t sf_int_text(int64_t v, char *out)
{
    fmt::format_int text(v);
    std::copy(text.data(), text.data() + text.size(), out);
    return text.size();
}
