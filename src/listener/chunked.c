/*
 * Chunked transfer-coding decoder (RFC 9112 7.1); contract in h1_parse.h.
 *
 * A byte-at-a-time state machine for the framing (sizes, extensions,
 * CRLFs, trailers) and one memmove per run of chunk data, so it can be fed
 * any split of the input and decode in place.  The grammar is applied
 * strictly because a body that two parsers frame differently is a request
 * smuggling vector (RFC 9112 11.2): no bare CR or LF, no whitespace that the
 * grammar does not allow (BWS only around ";" and "=" of an extension),
 * no chunk size that does not fit in 64 bits.
 *
 *   chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *   last-chunk = 1*("0") [ chunk-ext ] CRLF
 *   trailer-section = *( field-line CRLF ), then CRLF
 */
#include "listener/h1_parse.h"

#include <string.h>

enum chunked_state {
    CH_SIZE_FIRST = 0, /* first hex digit of a chunk-size */
    CH_SIZE,           /* more hex digits */
    CH_SEMI_WS,        /* BWS seen, ";" must follow */
    CH_NAME_FIRST,     /* after ";" (BWS allowed), ext-name must start */
    CH_NAME,           /* in ext-name */
    CH_NAME_WS,        /* BWS after ext-name: "=" or ";" must follow */
    CH_VAL_FIRST,      /* after "=" (BWS allowed) */
    CH_VAL_TOKEN,      /* in a token ext-val */
    CH_QUOTED,         /* in a quoted-string ext-val */
    CH_QUOTED_ESC,     /* after "\" in a quoted-string */
    CH_QUOTED_END,     /* after the closing DQUOTE */
    CH_SIZE_LF,        /* CR of the chunk-size line seen */
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER_START, /* start of a trailer line, or the final CRLF */
    CH_TRAILER_NAME,
    CH_TRAILER_VALUE,
    CH_TRAILER_LF,
    CH_END_LF,
    CH_DONE,
    CH_ERROR
};

#define CH_TCHAR 0x01
#define CH_HEX 0x02
#define CH_FVAL 0x04   /* field-value: VCHAR / obs-text / SP / HTAB */
#define CH_QDTEXT 0x08 /* RFC 9110 5.6.4: HTAB / SP / 21 / 23-5B / 5D-7E / obs-text */

#define CH_IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define CH_IS_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define CH_IS_TCHAR(c)                                                                            \
    (CH_IS_DIGIT(c) || CH_IS_ALPHA(c) || (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' ||  \
     (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' ||         \
     (c) == '^' || (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
#define CH_IS_HEX(c) (CH_IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))
#define CH_IS_FVAL(c) (((c) >= 0x21 && (c) != 0x7f) || (c) == ' ' || (c) == '\t')
#define CH_IS_QDTEXT(c) (CH_IS_FVAL(c) && (c) != '"' && (c) != '\\')

#define CH_CLASS(c)                                                                               \
    ((CH_IS_TCHAR(c) ? CH_TCHAR : 0) | (CH_IS_HEX(c) ? CH_HEX : 0) |                              \
     (CH_IS_FVAL(c) ? CH_FVAL : 0) | (CH_IS_QDTEXT(c) ? CH_QDTEXT : 0))
#define CH_C4(c) CH_CLASS(c), CH_CLASS((c) + 1), CH_CLASS((c) + 2), CH_CLASS((c) + 3)
#define CH_C16(c) CH_C4(c), CH_C4((c) + 4), CH_C4((c) + 8), CH_C4((c) + 12)
#define CH_C64(c) CH_C16(c), CH_C16((c) + 16), CH_C16((c) + 32), CH_C16((c) + 48)

static const unsigned char chunked_class[256] = {CH_C64(0), CH_C64(64), CH_C64(128),
                                                 CH_C64(192)};

static inline unsigned chunked_hexval(unsigned char c)
{
    if (c <= '9') {
        return c - '0';
    }
    return (unsigned)(c | 0x20) - 'a' + 10;
}

static inline bool chunked_is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

void wasp_chunked_init(wasp_chunked_t *c)
{
    memset(c, 0, sizeof(*c));
    c->state = CH_SIZE_FIRST;
}

/* Count one more byte of a chunk-ext; false when over the limit. */
static inline bool chunked_ext_byte(wasp_chunked_t *c)
{
    return ++c->ext_bytes <= WASP_CHUNKED_MAX_EXT_BYTES;
}

/* One framing byte; returns the next state (CH_ERROR on a violation). */
static int chunked_step(wasp_chunked_t *c, unsigned char b)
{
    unsigned char cls = chunked_class[b];

    switch (c->state) {
    case CH_SIZE_FIRST:
    case CH_SIZE:
        if (cls & CH_HEX) {
            if (++c->line_bytes > WASP_CHUNKED_MAX_SIZE_DIGITS) {
                return CH_ERROR;
            }
            if (c->digits > 0 || b != '0') {
                /* 16 significant hex digits fill 64 bits (no overflow). */
                if (++c->digits > 16) {
                    return CH_ERROR;
                }
                c->remaining = (c->remaining << 4) | chunked_hexval(b);
            }
            return CH_SIZE;
        }
        if (c->state == CH_SIZE_FIRST) {
            return CH_ERROR; /* chunk-size = 1*HEXDIG */
        }
        if (b == '\r') {
            return CH_SIZE_LF;
        }
        if (!chunked_ext_byte(c)) {
            return CH_ERROR;
        }
        if (b == ';') {
            return CH_NAME_FIRST;
        }
        return chunked_is_ws(b) ? CH_SEMI_WS : CH_ERROR;

    case CH_SEMI_WS:
        if (!chunked_ext_byte(c)) {
            return CH_ERROR;
        }
        if (b == ';') {
            return CH_NAME_FIRST;
        }
        return chunked_is_ws(b) ? CH_SEMI_WS : CH_ERROR;

    case CH_NAME_FIRST:
        if (!chunked_ext_byte(c)) {
            return CH_ERROR;
        }
        if (cls & CH_TCHAR) {
            return CH_NAME;
        }
        return chunked_is_ws(b) ? CH_NAME_FIRST : CH_ERROR;

    case CH_NAME:
    case CH_VAL_TOKEN:
    case CH_QUOTED_END:
        if (b == '\r') {
            return CH_SIZE_LF;
        }
        if (!chunked_ext_byte(c)) {
            return CH_ERROR;
        }
        if ((cls & CH_TCHAR) && c->state != CH_QUOTED_END) {
            return c->state;
        }
        if (b == ';') {
            return CH_NAME_FIRST;
        }
        if (b == '=' && c->state == CH_NAME) {
            return CH_VAL_FIRST;
        }
        if (chunked_is_ws(b)) {
            return c->state == CH_NAME ? CH_NAME_WS : CH_SEMI_WS;
        }
        return CH_ERROR;

    case CH_NAME_WS:
        if (!chunked_ext_byte(c)) {
            return CH_ERROR;
        }
        if (b == '=') {
            return CH_VAL_FIRST;
        }
        if (b == ';') {
            return CH_NAME_FIRST;
        }
        return chunked_is_ws(b) ? CH_NAME_WS : CH_ERROR;

    case CH_VAL_FIRST:
        if (!chunked_ext_byte(c)) {
            return CH_ERROR;
        }
        if (cls & CH_TCHAR) {
            return CH_VAL_TOKEN;
        }
        if (b == '"') {
            return CH_QUOTED;
        }
        return chunked_is_ws(b) ? CH_VAL_FIRST : CH_ERROR;

    case CH_QUOTED:
        if (!chunked_ext_byte(c)) {
            return CH_ERROR;
        }
        if (b == '"') {
            return CH_QUOTED_END;
        }
        if (b == '\\') {
            return CH_QUOTED_ESC;
        }
        return (cls & CH_QDTEXT) ? CH_QUOTED : CH_ERROR;

    case CH_QUOTED_ESC:
        /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
        if (!chunked_ext_byte(c)) {
            return CH_ERROR;
        }
        return (cls & CH_FVAL) ? CH_QUOTED : CH_ERROR;

    case CH_SIZE_LF:
        if (b != '\n') {
            return CH_ERROR;
        }
        c->line_bytes = 0;
        c->ext_bytes = 0;
        c->digits = 0;
        return c->remaining == 0 ? CH_TRAILER_START : CH_DATA;

    case CH_DATA_CR:
        return b == '\r' ? CH_DATA_LF : CH_ERROR;

    case CH_DATA_LF:
        return b == '\n' ? CH_SIZE_FIRST : CH_ERROR;

    case CH_TRAILER_START:
    case CH_TRAILER_NAME:
    case CH_TRAILER_VALUE:
    case CH_TRAILER_LF:
    case CH_END_LF:
        /* RFC 9112 7.1.2: trailers are field lines; we discard them, but
         * their syntax is checked and their size is bounded. */
        if (++c->trailer_bytes > WASP_CHUNKED_MAX_TRAILER_BYTES) {
            return CH_ERROR;
        }
        switch (c->state) {
        case CH_TRAILER_START:
            if (b == '\r') {
                return CH_END_LF;
            }
            return (cls & CH_TCHAR) ? CH_TRAILER_NAME : CH_ERROR; /* no obs-fold */
        case CH_TRAILER_NAME:
            if (b == ':') {
                return CH_TRAILER_VALUE;
            }
            return (cls & CH_TCHAR) ? CH_TRAILER_NAME : CH_ERROR;
        case CH_TRAILER_VALUE:
            if (b == '\r') {
                return CH_TRAILER_LF;
            }
            return (cls & CH_FVAL) ? CH_TRAILER_VALUE : CH_ERROR;
        case CH_TRAILER_LF:
            return b == '\n' ? CH_TRAILER_START : CH_ERROR;
        default: /* CH_END_LF */
            return b == '\n' ? CH_DONE : CH_ERROR;
        }

    default:
        return CH_ERROR;
    }
}

int wasp_chunked_decode(wasp_chunked_t *c, const char *in, size_t in_len, size_t *consumed,
                        char *out, size_t *out_len)
{
    size_t i = 0, w = 0;
    int rc = 0;

    while (i < in_len) {
        if (c->state == CH_DATA) {
            size_t n = in_len - i;

            if ((uint64_t)n > c->remaining) {
                n = (size_t)c->remaining;
            }
            /* w <= i always: framing bytes are dropped, data is copied
             * one for one, so in-place decoding never overtakes. */
            if (out + w != in + i) {
                memmove(out + w, in + i, n);
            }
            w += n;
            i += n;
            c->remaining -= n;
            c->total += n;
            if (c->remaining == 0) {
                c->state = CH_DATA_CR;
            }
            continue;
        }
        if (c->state == CH_DONE || c->state == CH_ERROR) {
            break;
        }
        c->state = chunked_step(c, (unsigned char)in[i]);
        if (c->state == CH_ERROR) {
            break;
        }
        i++;
    }
    if (c->state == CH_DONE) {
        rc = 1;
    } else if (c->state == CH_ERROR) {
        rc = -1;
    }
    *consumed = i;
    *out_len = w;
    return rc;
}
