/*
 * wasp-http: the listener process.  Started by waspd only, with the control
 * channel on the descriptor named by --control-fd and the directory for
 * large request bodies named by --temp-dir; everything else (sockets, pools,
 * routes) arrives over that channel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "listener/listener.h"

int wasp_listener_main(int control_fd);

int main(int argc, char **argv)
{
    int control_fd = -1;

    wasp_log_init("wasp-http");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--control-fd") == 0 && i + 1 < argc) {
            control_fd = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--temp-dir") == 0 && i + 1 < argc) {
            lsn_temp_dir = argv[++i]; /* request bodies too large for memory */
        }
    }
    if (control_fd < 0) {
        fprintf(stderr, "wasp-http is started by waspd (it needs --control-fd).\n");
        return 2;
    }
    return wasp_listener_main(control_fd);
}
