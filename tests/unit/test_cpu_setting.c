/* cpu/@limit as the cgroup v2 value waspd writes (service/cpu_setting.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "service/cpu_setting.h"

static void expect(uint32_t limit, int throttle, long cpus, const char *file, const char *value)
{
    char got[64];

    assert_string_equal(wasp_cpu_cgroup_setting(limit, throttle, cpus, got, sizeof(got)), file);
    assert_string_equal(got, value);
}

/* Throttle: limit is 1/1000 % of the whole machine, so 50000 (50 %) of a
 * 4-CPU machine is two CPUs' worth of each 100 ms period. */
static void test_throttle_is_a_share_of_every_cpu(void **state)
{
    (void)state;
    expect(50000, 1, 4, "cpu.max", "200000 100000");
    expect(100000, 1, 2, "cpu.max", "200000 100000"); /* 100 %: every CPU */
    expect(25000, 1, 1, "cpu.max", "25000 100000");
    expect(25000, 1, 0, "cpu.max", "25000 100000");   /* CPUs unknown: one */
    expect(1, 1, 1, "cpu.max", "1000 100000");        /* never under the kernel's 1 ms */
}

/* ThrottleUnderLoad: a weight, 100 being an ordinary process's. */
static void test_throttle_under_load_is_a_weight(void **state)
{
    (void)state;
    expect(1000, 0, 8, "cpu.weight", "100");
    expect(50000, 0, 8, "cpu.weight", "5000");
    expect(5, 0, 8, "cpu.weight", "1");
    expect(100000, 0, 8, "cpu.weight", "10000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_throttle_is_a_share_of_every_cpu),
        cmocka_unit_test(test_throttle_under_load_is_a_weight),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
