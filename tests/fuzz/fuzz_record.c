/* libFuzzer target for the canonical record encoding (protocol/record.c):
 * a record the decoder accepts must re-encode to exactly the same bytes, or
 * two encodings could share one meaning and the signed hash would lie.
 * Aborts on any breach. Built and run by tests/fuzz/run-fuzz. */
#include "protocol/record.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct record r;
    static uint8_t out[RECORD_MAX_ENCODED];
    struct lcb_error err = {0};
    size_t len = 0;

    if (record_decode(data, size, &r, &err) != 0)
        return 0;
    if (record_encode(&r, out, sizeof out, &len, &err) != 0)
        abort();
    if (len != size || memcmp(out, data, size) != 0)
        abort();
    return 0;
}
