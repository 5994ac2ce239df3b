/*
 * Module loading and registration.  <globalModules> installs modules: a name
 * that is one of wasp's built-in modules uses the compiled-in code (whatever
 * the image says, so an IIS file naming %windir%\...\static.dll works
 * unchanged); any other entry is dlopen'ed from its image.  Either way the
 * module registers through wasp_module_register()'s API.
 *
 * <modules> enables installed modules per URL.  For each distinct effective
 * <modules> section we build a pipeline once: per event, the enabled
 * modules' handlers sorted by priority (FIRST..LAST), ties in <modules>
 * order, SendResponse inverted (iis-modules.md 1.6).
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "modules/builtin.h"
#include "worker/worker.h"

static wasp_module_t *mods[WORKER_MAX_MODULES];
static size_t mod_count;
static pipeline_t *pipelines;

size_t worker_module_count(void)
{
    return mod_count;
}

wasp_module_t *worker_module_find(const char *name)
{
    for (size_t i = 0; i < mod_count; i++) {
        if (strcmp(mods[i]->name, name) == 0) {
            return mods[i];
        }
    }
    return NULL;
}

const char *wasp_module_name(const wasp_module_t *m)
{
    return m->name;
}

/* ---- registration API ---------------------------------------------------- */

int wasp_registration_set_info(wasp_registration_t *reg, const wasp_module_info_t *info)
{
    if (info == NULL || info->abi != WASP_MODULE_ABI || info->size < sizeof(uint32_t) * 2) {
        wasp_registration_error(reg, "module ABI %u, this worker speaks %u",
                                info ? info->abi : 0, WASP_MODULE_ABI);
        return -1;
    }
    if (info->name == NULL || strcmp(info->name, reg->mod->name) != 0) {
        wasp_registration_error(reg, "the module calls itself '%s' but <globalModules> names it "
                                "'%s'", info->name ? info->name : "", reg->mod->name);
        return -1;
    }
    /* Copy what both sides know; a newer, longer struct is fine. */
    memcpy(&reg->mod->info, info,
           info->size < sizeof(reg->mod->info) ? info->size : sizeof(reg->mod->info));
    reg->mod->info.name = reg->mod->name;
    return 0;
}

static int registration_on(wasp_registration_t *reg, wasp_event_t event, wasp_priority_t priority,
                           wasp_event_handler_t handler, int post)
{
    if ((unsigned)event >= WASP_EVENT_COUNT || (unsigned)priority > WASP_PRIORITY_LAST ||
        handler == NULL) {
        wasp_registration_error(reg, "invalid event %d / priority %d", (int)event,
                                (int)priority);
        return -1;
    }
    if (post && event == WASP_EVENT_SEND_RESPONSE) {
        wasp_registration_error(reg, "SendResponse has no post-event");
        return -1;
    }
    if (reg->mod->on[event][post].fn != NULL) {
        wasp_registration_error(reg, "subscribed twice to the same event");
        return -1;
    }
    reg->mod->on[event][post].fn = handler;
    reg->mod->on[event][post].priority = priority;
    return 0;
}

int wasp_registration_on(wasp_registration_t *reg, wasp_event_t event, wasp_priority_t priority,
                         wasp_event_handler_t handler)
{
    return registration_on(reg, event, priority, handler, 0);
}

int wasp_registration_on_post(wasp_registration_t *reg, wasp_event_t event,
                              wasp_priority_t priority, wasp_event_handler_t handler)
{
    return registration_on(reg, event, priority, handler, 1);
}

void wasp_registration_error(wasp_registration_t *reg, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reg->error, sizeof(reg->error), fmt, ap);
    va_end(ap);
}

/* ---- loading ------------------------------------------------------------- */

static const wasp_builtin_module_t *builtin_find(const char *name)
{
    for (const wasp_builtin_module_t *b = wasp_builtin_modules; b->name != NULL; b++) {
        if (strcmp(b->name, name) == 0) {
            return b;
        }
    }
    return NULL;
}

/* %VAR% expansion for image paths (IIS expands them too). */
static void expand_env(const char *in, char *out, size_t size)
{
    size_t o = 0;

    for (const char *p = in; *p && o + 1 < size;) {
        const char *end;

        if (*p == '%' && (end = strchr(p + 1, '%')) != NULL && end > p + 1) {
            char var[128];
            size_t n = (size_t)(end - p - 1);
            const char *val;

            if (n < sizeof(var)) {
                memcpy(var, p + 1, n);
                var[n] = '\0';
                val = getenv(var);
                if (val != NULL) {
                    for (; *val && o + 1 < size; val++) {
                        out[o++] = *val;
                    }
                    p = end + 1;
                    continue;
                }
            }
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
}

static int module_load_one(const wasp_section_t *entry, char *err, size_t err_size)
{
    const char *name = wasp_section_attr(entry, "name");
    const char *image = wasp_section_attr(entry, "image");
    const wasp_builtin_module_t *b;
    wasp_register_fn fn;
    wasp_registration_t reg;
    wasp_module_t *m;
    void *dl = NULL;

    if (name == NULL) {
        snprintf(err, err_size, "%s:%d: <globalModules><add> without a name", entry->file,
                 entry->line);
        return -1;
    }
    if (worker_module_find(name) != NULL) {
        return 0;
    }
    if (mod_count == WORKER_MAX_MODULES) {
        snprintf(err, err_size, "more than %d modules", WORKER_MAX_MODULES);
        return -1;
    }
    b = builtin_find(name);
    if (b != NULL) {
        fn = b->register_fn;
    } else {
        char path[4096];

        if (image == NULL || image[0] == '\0') {
            snprintf(err, err_size, "%s:%d: module '%s' has no image; set image=\"/path/to/"
                     "module.so\"", entry->file, entry->line, name);
            return -1;
        }
        expand_env(image, path, sizeof(path));
        dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (dl == NULL) {
            snprintf(err, err_size, "%s:%d: cannot load module '%s' from %s: %s", entry->file,
                     entry->line, name, path, dlerror());
            return -1;
        }
        *(void **)&fn = dlsym(dl, "wasp_module_register");
        if (fn == NULL) {
            snprintf(err, err_size, "%s:%d: %s is not a wasp module (no wasp_module_register)",
                     entry->file, entry->line, path);
            dlclose(dl);
            return -1;
        }
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return -1;
    }
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->index = mod_count;
    m->dl = dl;
    reg.mod = m;
    reg.error[0] = '\0';
    if (fn(&reg, WASP_MODULE_ABI) != 0 || m->info.abi == 0) {
        snprintf(err, err_size, "%s:%d: module '%s' (%s) refused to register: %s", entry->file,
                 entry->line, name, b ? "built-in" : image,
                 reg.error[0] ? reg.error : "it did not call wasp_registration_set_info");
        if (dl != NULL) {
            dlclose(dl);
        }
        free(m);
        return -1;
    }
    mods[mod_count++] = m;
    return 0;
}

int worker_modules_load(char *err, size_t err_size)
{
    const wasp_section_t *gm =
        wasp_config_section(worker_cfg, NULL, "/", "system.webServer/globalModules");

    for (size_t i = 0; gm != NULL && i < wasp_section_item_count(gm); i++) {
        if (module_load_one(wasp_section_item(gm, i), err, err_size) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < mod_count; i++) {
        if (mods[i]->info.process_init != NULL && mods[i]->info.process_init(mods[i]) != 0) {
            snprintf(err, err_size, "module '%s' failed to initialise", mods[i]->name);
            return -1;
        }
    }
    return 0;
}

void worker_modules_exit(void)
{
    for (size_t i = mod_count; i-- > 0;) {
        if (mods[i]->info.process_exit != NULL) {
            mods[i]->info.process_exit(mods[i]);
        }
    }
}

/* ---- pipelines ----------------------------------------------------------- */

typedef struct sort_item {
    wasp_module_t *mod;
    int priority;
    size_t order;
} sort_item_t;

static int sort_cmp(const void *a, const void *b)
{
    const sort_item_t *x = a, *y = b;

    if (x->priority != y->priority) {
        return x->priority - y->priority;
    }
    return x->order < y->order ? -1 : x->order > y->order;
}

const pipeline_t *worker_pipeline_for(const wasp_section_t *modules_section)
{
    pipeline_t *p;
    size_t order[WORKER_MAX_MODULES];

    for (p = pipelines; p != NULL; p = p->next) {
        if (p->modules_section == modules_section) {
            return p;
        }
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->modules_section = modules_section;
    for (size_t i = 0; modules_section != NULL && i < wasp_section_item_count(modules_section);
         i++) {
        const char *name = wasp_section_attr(wasp_section_item(modules_section, i), "name");
        wasp_module_t *m = name ? worker_module_find(name) : NULL;

        if (m != NULL && !p->enabled[m->index]) {
            p->enabled[m->index] = true;
            order[m->index] = i;
        }
    }
    for (int ev = 0; ev < WASP_EVENT_COUNT; ev++) {
        for (int post = 0; post < 2; post++) {
            sort_item_t items[WORKER_MAX_MODULES];
            size_t n = 0;

            for (size_t i = 0; i < mod_count; i++) {
                if (p->enabled[i] && mods[i]->on[ev][post].fn != NULL) {
                    int prio = (int)mods[i]->on[ev][post].priority;

                    /* SendResponse runs in inverted priority order. */
                    items[n++] = (sort_item_t){mods[i], ev == WASP_EVENT_SEND_RESPONSE
                                                            ? WASP_PRIORITY_LAST - prio
                                                            : prio,
                                               ev == WASP_EVENT_SEND_RESPONSE
                                                   ? WORKER_MAX_MODULES - order[i]
                                                   : order[i]};
                }
            }
            qsort(items, n, sizeof(items[0]), sort_cmp);
            p->steps[ev][post].mods = calloc(n ? n : 1, sizeof(wasp_module_t *));
            p->steps[ev][post].count = n;
            for (size_t i = 0; i < n; i++) {
                p->steps[ev][post].mods[i] = items[i].mod;
            }
        }
    }
    p->next = pipelines;
    pipelines = p;
    return p;
}
