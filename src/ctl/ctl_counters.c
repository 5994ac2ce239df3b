/*
 * `waspctl list counters [/site:NAME] [/apppool:NAME]`: IIS' performance
 * counters, read from the running listener through waspd ("counters" on the
 * control socket).  One line per counter set, appcmd's shape:
 *
 *   COUNTERSET "Web Service/<site>" (SITE.ID:1,ServiceUptime:12,CurrentConnections:0,...)
 *   COUNTERSET "HTTP Service Request Queues/<pool>" (CurrentQueueSize:0,...)
 *   COUNTERSET "Web Service Cache" (CurrentUrisCached:1,UriCacheHits:7,...)
 *
 * The listener gives totals; the three rates of a queue (ArrivalRate,
 * RejectionRate, CacheHitRate) are averages per second since the pool started, as one
 * sample cannot give more (Prometheus' rate() over /metrics gives the
 * instantaneous ones).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl/ctl.h"
#include "ctl/ctl_client.h"

/* Print "key:value" pairs from "key=value" fields, comma-separated. */
static void print_pairs(char **f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *eq = strchr(f[i], '=');

        if (eq != NULL) {
            *eq = ':';
        }
        printf(",%s", f[i]);
    }
}

/* The value of "key=value" among fields, 0 if absent. */
static unsigned long long field_value(char **f, size_t n, const char *key)
{
    size_t kl = strlen(key);

    for (size_t i = 0; i < n; i++) {
        if (strncmp(f[i], key, kl) == 0 && f[i][kl] == '=') {
            return strtoull(f[i] + kl + 1, NULL, 10);
        }
    }
    return 0;
}

int ctl_list_counters(ctl_cmd_t *cmd)
{
    const char *site = ctl_param_value(cmd, "site");
    const char *pool = ctl_param_value(cmd, "apppool");
    const char *words[1] = { "counters" };
    char err[1024], *line;
    ctl_reply_t r;
    int rc;

    for (size_t i = 0; i < cmd->param_count; i++) {
        if (!cmd->params[i].used && !ctl_general_param(cmd->params[i].name)) {
            return ctl_error(CTL_EXIT_USAGE,
                             "/%s is not a parameter of list counters; use /site:NAME or "
                             "/apppool:NAME", cmd->params[i].name);
        }
    }
    rc = ctl_call(cmd->rundir, words, 1, CTL_PROGRESS, 30000, &r, err, sizeof(err));
    if (rc == CTL_CALL_NOT_RUNNING) {
        ctl_reply_free(&r);
        return ctl_not_running(cmd);
    }
    if (rc != CTL_CALL_OK || r.status != 0) {
        rc = ctl_error(CTL_EXIT_FAILED, "%s",
                       rc != CTL_CALL_OK ? err : *r.message ? r.message : "waspd refused");
        ctl_reply_free(&r);
        return rc;
    }
    for (line = r.out; *line;) {
        char *nl = strchr(line, '\n'), *f[32];
        size_t n;

        if (nl != NULL) {
            *nl = '\0';
        }
        n = ctl_split(line, '\t', f, 32);
        if (n >= 4 && strcmp(f[0], "site") == 0 && pool == NULL &&
            (site == NULL || strcasecmp(site, f[2]) == 0)) {
            printf("COUNTERSET \"Web Service/%s\" (SITE.ID:%s,ServiceUptime:%s", f[2], f[1], f[3]);
            print_pairs(f + 4, n - 4);
            printf(")\n");
        } else if (n >= 3 && strcmp(f[0], "queue") == 0 && site == NULL &&
                   (pool == NULL || strcasecmp(pool, f[1]) == 0)) {
            unsigned long long up = strtoull(f[2], NULL, 10);
            unsigned long long arrivals = field_value(f + 3, n - 3, "TotalArrivals");
            unsigned long long rejected = field_value(f + 3, n - 3, "RejectedRequests");
            unsigned long long hits = field_value(f + 3, n - 3, "TotalCacheHits");

            printf("COUNTERSET \"HTTP Service Request Queues/%s\" (ServiceUptime:%s", f[1], f[2]);
            print_pairs(f + 3, n - 3);
            printf(",ArrivalRate:%.2f,RejectionRate:%.2f,CacheHitRate:%.2f)\n",
                   up ? (double)arrivals / (double)up : (double)arrivals,
                   up ? (double)rejected / (double)up : (double)rejected,
                   up ? (double)hits / (double)up : (double)hits);
        } else if (n >= 2 && strcmp(f[0], "cache") == 0 && site == NULL && pool == NULL) {
            /* The response cache serves every site and pool: shown unfiltered only. */
            char *eq = strchr(f[1], '=');

            if (eq != NULL) {
                *eq = ':';
            }
            printf("COUNTERSET \"Web Service Cache\" (%s", f[1]);
            print_pairs(f + 2, n - 2);
            printf(")\n");
        }
        line = nl != NULL ? nl + 1 : line + strlen(line);
    }
    fflush(stdout);
    ctl_reply_free(&r);
    return 0;
}
