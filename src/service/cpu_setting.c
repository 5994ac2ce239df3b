/* applicationPools/add/cpu as a cgroup v2 setting (see cpu_setting.h). */
#include <stdio.h>

#include "service/cpu_setting.h"

const char *wasp_cpu_cgroup_setting(uint32_t limit, int throttle, long cpus, char *value,
                                    size_t size)
{
    if (throttle) {
        unsigned long long quota = (unsigned long long)WASP_CPU_PERIOD_US *
                                   (unsigned long long)(cpus > 0 ? cpus : 1) * limit / 100000ull;

        /* The kernel refuses a quota under 1 ms. */
        snprintf(value, size, "%llu %u", quota < 1000 ? 1000 : quota, WASP_CPU_PERIOD_US);
        return "cpu.max";
    }
    /* 100 is an ordinary process's share. */
    unsigned long w = limit / 10u;

    snprintf(value, size, "%lu", w < 1 ? 1 : w > 10000 ? 10000 : w);
    return "cpu.weight";
}
