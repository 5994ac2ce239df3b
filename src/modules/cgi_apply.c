/*
 * A parsed CGI header block becomes the response: one policy for CgiModule
 * and FastCgiModule.  Kept out of cgi_response.c, which stays free of the
 * module API so that it can be unit-tested and fuzzed on its own.
 */
#include <strings.h>

#include "modules/cgi_response.h"
#include "modules/modutil.h"
#include "wasp/module.h"

bool cgi_head_apply(cgi_head_t *h, wasp_request_t *req, const char *script)
{
    bool head = wasp_modutil_method_is(req, "HEAD");
    bool discard = false;
    int status = h->status;

    if (h->local_redirect) {
        /* RFC 3875 6.2.2: the server answers as if the client had asked for
         * that URL; the script's headers and body are dropped. */
        if (wasp_request_redirect_local(req, h->location) == 0) {
            return true;
        }
        /* Too late (the script flushed) or not a path we can serve: the
         * client goes there itself. */
        wasp_log(req, WASP_LOG_WARN, "%s: local redirect to %s sent to the client as 302",
                 script, h->location);
        status = 302;
        h->reason[0] = '\0';
        discard = true;
    }
    /* An empty reason: the worker gives the standard phrase. */
    wasp_response_set_status(req, status, 0, h->reason);
    if (h->location != NULL && wasp_response_set_header(req, "Location", h->location) != 0) {
        wasp_log(req, WASP_LOG_WARN, "%s: Location header refused", script);
    }
    for (size_t i = 0; i < h->header_count; i++) {
        const cgi_header_t *hd = &h->headers[i];

        /* The worker would take a Content-Length as the length it must
         * send; the script's is kept only for HEAD, where it says what a
         * GET would send.  Connection, Transfer-Encoding and the like are
         * dropped by the listener, whose business framing is. */
        if (!head && strcasecmp(hd->name, "Content-Length") == 0) {
            continue;
        }
        if (wasp_response_add_header(req, hd->name, hd->value) != 0) {
            wasp_log(req, WASP_LOG_WARN, "%s: header %s refused", script, hd->name);
        }
    }
    return discard;
}
