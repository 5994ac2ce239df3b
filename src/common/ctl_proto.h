/*
 * The control socket: how waspctl (and the web console later) talks to a
 * running waspd.  It is deliberately a small text protocol, so that an
 * administrator can drive it with socat when waspctl is not at hand, and so
 * that waspctl keeps every appcmd output format on its side.
 *
 * Socket: <runtime-dir>/control.sock, AF_UNIX SOCK_SEQPACKET, mode 0600,
 * owned by waspd's user.  waspd also checks the peer (SO_PEERCRED): only
 * root and waspd's own user are served; a pool's identity is refused.
 *
 * One connection carries one command:
 *   request  : one datagram, the command's words separated by '\0'
 *              (like argv; a trailing '\0' is allowed).
 *   replies  : datagrams, each starting with one kind byte:
 *     'O' text   output: one or more complete lines ending in '\n'
 *     'P' text   progress of a long operation, one line (waspctl prints it
 *                on stderr so that stdout stays parseable)
 *     'D' N text done: exit status N (decimal), one space, then a message
 *                for people (may be empty).  waspd closes after it.
 *   A datagram is at most WASP_CTL_MAX bytes; longer output comes as
 *   several 'O' datagrams.
 *
 * Commands (fields in 'O' lines are separated by '\t'):
 *   state
 *     pool <name> <state> <reason>        state: Started|Stopped|Starting|Stopping
 *                                         reason: "" or why it is stopped
 *                                         (AppOffline = rapid-fail, Disabled = admin)
 *     poolcfg <name> key=value...         the settings waspd runs the pool with
 *                                         (times in seconds, memory in KB, pingInterval
 *                                         0 = pinging off), e.g. queueLength=1000
 *                                         idleTimeout=1200 periodicRestart.time=104400
 *     wp <pid> <pool> <state> <started-unix-ms> <requests>
 *                                         state: Starting|Running|Suspended|Stopping|Orphaned
 *     site <id> <name> <state>            state: Started|Stopped
 *   start-apppool <name>    start a stopped pool (clears rapid-fail history)
 *   stop-apppool <name>     stop it: workers finish what they hold (progress
 *                           lines) and exit; requests are answered 503 Disabled
 *   recycle-apppool <name>  overlapped (or not) recycle, OnDemand reason;
 *                           returns once every old worker has exited
 *   start-site <name> / stop-site <name>
 *   reload                  read applicationHost.config again now (waspd
 *                           also notices changes on its own); D says what changed
 *   requests <min-elapsed-ms>
 *     req <pool> <pid> <site-id> <elapsed-ms> <client address> <verb> <url> <stage> <module>
 *   counters
 *     site <id> <name> <uptime-s> <Counter>=<n>...   IIS' Web Service counters
 *     queue <pool> <uptime-s> <Counter>=<n>...       HTTP Service Request Queues
 *                                         (docs/operations.md, "Counters and metrics")
 *   events [<count>]        the last <count> (default all) event-log lines,
 *                           oldest first, as written in the event log file
 *   sslcert                 the SSL certificate bindings waspd holds, one
 *                           'O' line each in sslbindings.conf's form
 *   sslcert-changed [<root>]  waspctl changed <root>/sslbindings.conf: read
 *                           it again (refused, status 1, when <root> is not
 *                           waspd's --cert-store); D says how many entries
 *
 * Exit statuses: 0 done, 1 failed (message says why), 2 unknown command or
 * bad arguments, 3 no such object.
 */
#ifndef WASP_CTL_PROTO_H
#define WASP_CTL_PROTO_H

#define WASP_CTL_SOCKET "control.sock"
#define WASP_CTL_MAX 65536

#endif
