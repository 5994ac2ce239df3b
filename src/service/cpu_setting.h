/*
 * applicationPools/add/cpu as a cgroup v2 setting (cpu.c writes it): pure
 * arithmetic, kept apart so that a unit test checks it on any machine (the
 * cgroup itself needs a cgroup v2 cpu controller that many hosts lack).
 */
#ifndef WASP_SERVICE_CPU_SETTING_H
#define WASP_SERVICE_CPU_SETTING_H

#include <stddef.h>
#include <stdint.h>

#define WASP_CPU_PERIOD_US 100000u

/* The file and value for cpu/@limit (1/1000 % of the whole machine) with
 * action Throttle (throttle != 0: cpu.max, a hard cap of limit x CPUs x
 * period, at least 1 ms) or ThrottleUnderLoad (cpu.weight, limit / 10
 * within 1..10000: a share that binds only under contention).  cpus < 1
 * counts as one.  Returns the file name ("cpu.max" or "cpu.weight"). */
const char *wasp_cpu_cgroup_setting(uint32_t limit, int throttle, long cpus, char *value,
                                    size_t size);

#endif
