/* libFuzzer target for the LCBP/1 codec (protocol/lcbp.c): any bytes a peer
 * may send go through lcbp_frame_length and lcbp_decode; a frame the decoder
 * accepts must re-encode to exactly the same bytes. Aborts on any breach;
 * never reads input beyond `size`. Built and run by tests/fuzz/run-fuzz. */
#include "protocol/lcbp.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lcbp_message msg;
    static uint8_t out[LCBP_MAX_FRAME];
    struct lcb_error err = {0};
    size_t frame_len = 0, len = 0;

    int rc = lcbp_frame_length(data, size, &frame_len, &err);
    if (rc == 0 && (frame_len < LCBP_HEADER_LEN || frame_len > size || frame_len > LCBP_MAX_FRAME))
        abort();
    if (rc == LCBP_NEED_MORE && frame_len <= size)
        abort();
    if (rc < 0 && !lcbp_error_code_known(err.code))
        abort();

    /* The whole input as one frame: what a listener does once
     * lcbp_frame_length said a frame of this size is buffered. */
    if (lcbp_decode(data, size, &msg, &err) != 0) {
        if (!lcbp_error_code_known(err.code))
            abort();
        return 0;
    }
    if (rc != 0 || frame_len != size)
        abort(); /* decode accepted what framing did not delimit */
    if (lcbp_encode(&msg, out, sizeof out, &len, &err) != 0)
        abort();
    if (len != size || memcmp(out, data, size) != 0)
        abort();
    return 0;
}
