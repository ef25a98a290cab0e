/* Internal to the LCBP codec: the field and message tables that
 * protocol/lcbp_rules.c owns and protocol/lcbp.c reads and writes by. Not a
 * public contract; nothing outside protocol/lcbp*.c includes it. */
#ifndef LCB_LCBP_RULES_H
#define LCB_LCBP_RULES_H

#include "protocol/lcbp.h"

/* Wire types of a field's value (SPEC.md section 3). */
enum lcbp_wire_type {
    LCBP_W_U8 = 1,
    LCBP_W_U16 = 2,
    LCBP_W_U32 = 3,
    LCBP_W_U64 = 4,
    LCBP_W_I64 = 5,
    LCBP_W_STRING = 6,
    LCBP_W_BYTES = 7,
    LCBP_W_LIST = 8,
};

/* min/max: the value range of an integer (i64 ranges are all non-negative),
 * the byte length range of a string or bytes, the item count of a list. */
struct lcbp_field_def {
    const char *name;
    uint8_t wire;
    uint8_t text; /* strings: enum text_rule of lcbp_rules.c */
    size_t offset;
    uint64_t min, max;
};

struct lcbp_message_def {
    uint8_t type;
    uint8_t response; /* a request's response type; 0 for responses */
    const char *name;
    uint64_t required, optional;
};

/* Indexed by tag; name is NULL for a tag LCBP/1 does not define. */
extern const struct lcbp_field_def lcbp_field_defs[64];

/* The message of that type, or NULL. */
const struct lcbp_message_def *lcbp_message_def(int type);

/* Every rule of SPEC.md on an already parsed or caller-filled message:
 * allowed and required fields, ranges, text rules, list items, cross-field
 * rules. 0, or -1 with err (unknown_message, bad_frame, bad_field,
 * missing_field). */
int lcbp_validate(const struct lcbp_message *m, struct lcb_error *err);

/* Item count of a list field. */
size_t lcbp_list_count(const struct lcbp_message *m, int tag);

/* An integer field's value widened to 64 bits (an i64 keeps its bits). */
uint64_t lcbp_load_uint(const struct lcbp_message *m, const struct lcbp_field_def *f);

#endif
