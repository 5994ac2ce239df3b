/*
 * waspctl commands that change something.
 *
 * add / set / delete apppool edit applicationHost.config with config_edit
 * (checked by the real loader before the file is replaced), then, when
 * waspd runs, ask it to reload and wait for its answer, so the change is in
 * force when waspctl returns.
 *
 * An attribute IIS' schema marks encrypted (processModel.password) is
 * written as IIS' tools write it: encrypted, here with WaspAesProvider and
 * the key file of wasp_protect_key_file() (made on first use).  A value
 * given already encrypted is written as it is, once checked: "[enc:X::enc]"
 * (empty), or a WaspAesProvider value this key decrypts.  encrypt prints
 * such a value for an administrator to paste.
 *
 * start / stop / recycle apppool and start / stop site ask waspd over the
 * control socket, print its progress on stderr and appcmd's sentence on
 * stdout.  start / stop also write autoStart / serverAutoStart, as IIS
 * does, so the state survives a restart of waspd; that is written after
 * waspd has done the change, so a refused command leaves the file alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_edit.h"
#include "config/protect.h"
#include "ctl/ctl.h"
#include "ctl/ctl_client.h"

static int edit_error(int code, const char *err)
{
    int status = CTL_EXIT_FAILED;

    if (code == WASP_EDIT_NOT_FOUND) {
        status = CTL_EXIT_NOT_FOUND;
    } else if (code == WASP_EDIT_INVALID) {
        status = CTL_EXIT_USAGE;
    }
    return ctl_error(status, "%s", err);
}

static int need_pool_id(void)
{
    return ctl_error(CTL_EXIT_USAGE,
                     "Must specify the APPPOOL object with identifier or \"APPPOOL.NAME\" "
                     "parameter.");
}

/* Tell a running waspd to read the file again, and wait for it (ctl.h). */
int ctl_reload(const ctl_cmd_t *cmd)
{
    static const char *const words[] = { "reload" };
    ctl_reply_t r;
    char err[1024];
    int rc = ctl_call(cmd->rundir, words, 1, CTL_PROGRESS, 0, &r, err, sizeof(err));

    if (rc == CTL_CALL_NOT_RUNNING) {
        rc = 0;
    } else if (rc != CTL_CALL_OK) {
        rc = ctl_error(CTL_EXIT_FAILED,
                       "the change is saved in %s, but waspd could not be asked to reload it: "
                       "%s",
                       cmd->config, err);
    } else if (r.status != 0) {
        rc = ctl_error(CTL_EXIT_FAILED, "the change is saved in %s, but waspd did not apply it: %s",
                       cmd->config, r.message);
    } else {
        if (*r.message) {
            fprintf(stderr, "%s\n", r.message);
        }
        rc = 0;
    }
    ctl_reply_free(&r);
    return rc;
}

/* ---- encrypted values ----------------------------------------------------------- */

/* plain as a WaspAesProvider value (malloc'd in *out); the key file is
 * made when it does not exist yet.  what names the value in messages. */
static int encrypt_text(const char *what, const char *plain, char **out)
{
    wasp_protect_key_t key;
    char err[1024];
    size_t size = strlen(plain) / 3 * 4 + 128;
    int rc;

    *out = malloc(size);
    if (*out == NULL) {
        return ctl_error(CTL_EXIT_FAILED, "out of memory");
    }
    rc = wasp_protect_key_load(wasp_protect_key_file(), true, &key, err, sizeof(err));
    if (rc == 0) {
        rc = wasp_protect_encrypt(&key, plain, *out, size, err, sizeof(err));
    }
    wasp_protect_key_wipe(&key);
    if (rc != 0) {
        free(*out);
        *out = NULL;
        return ctl_error(CTL_EXIT_FAILED, "%s could not be encrypted: %s", what, err);
    }
    return 0;
}

/* A value given already encrypted: 0 when waspd will read it (empty, or
 * WaspAesProvider data this key decrypts). */
static int check_encrypted(const char *what, const char *value)
{
    wasp_protect_kind_t kind;
    wasp_protect_key_t key;
    char err[1024], *plain;
    int rc;

    if (wasp_protect_classify(value, &kind, err, sizeof(err)) != 0) {
        return ctl_error(CTL_EXIT_USAGE, "The value of %s %s", what, err);
    }
    if (kind != WASP_PROTECT_WASP) {
        return 0;
    }
    plain = malloc(strlen(value) + 1);
    if (plain == NULL) {
        return ctl_error(CTL_EXIT_FAILED, "out of memory");
    }
    rc = wasp_protect_key_load(wasp_protect_key_file(), false, &key, err, sizeof(err));
    if (rc == 0) {
        rc = wasp_protect_decrypt(&key, value, plain, strlen(value) + 1, err, sizeof(err));
    }
    wasp_protect_wipe(plain, strlen(value) + 1);
    free(plain);
    wasp_protect_key_wipe(&key);
    return rc == 0 ? 0 : ctl_error(CTL_EXIT_USAGE, "The value of %s %s", what, err);
}

/* The text to write for pool attribute a: value itself, or, for an
 * encrypted attribute, its encryption (*owned receives what to free). */
static int pool_value(const ctl_param_t *p, const wasp_edit_attr_t *a, const char **value,
                      char **owned)
{
    const char *element = a != NULL ? strrchr(a->element, '.') : NULL;
    char what[128];

    *owned = NULL;
    *value = p->value;
    element = element != NULL ? element + 1 : a != NULL ? a->element : "";
    if (a == NULL || !*p->value ||
        !wasp_protect_attr_encrypted("system.applicationHost/applicationPools", element,
                                     a->name)) {
        return 0;
    }
    snprintf(what, sizeof(what), "/%s", p->name);
    if (wasp_protect_is_encrypted(p->value)) {
        return check_encrypted(what, p->value);
    }
    if (encrypt_text(what, p->value, owned) != 0) {
        return CTL_EXIT_FAILED;
    }
    *value = *owned;
    return 0;
}

/* Every /attribute:value left on the command line, set on the pool.  A
 * /name:NEW renames it, and later attributes follow the new name. */
static int set_attrs(ctl_cmd_t *cmd, wasp_config_edit_t *ed, const char *pool, size_t *count)
{
    char err[2048];

    *count = 0;
    for (size_t i = 0; i < cmd->param_count; i++) {
        ctl_param_t *p = &cmd->params[i];
        const wasp_edit_attr_t *a;
        const char *value;
        char *owned;
        int rc;

        if (p->used || ctl_general_param(p->name)) {
            continue;
        }
        if (p->value == NULL) {
            return ctl_error(CTL_EXIT_USAGE, "/%s needs a value: /%s:VALUE", p->name, p->name);
        }
        a = wasp_edit_pool_attr_find(p->name);
        rc = pool_value(p, a, &value, &owned);
        if (rc != 0) {
            return rc;
        }
        rc = wasp_config_edit_pool_set(ed, pool, p->name, value, err, sizeof(err));
        free(owned);
        if (rc != WASP_EDIT_OK) {
            return edit_error(rc, err);
        }
        if (a != NULL && strcmp(a->name, "name") == 0 && !*a->element) {
            pool = p->value;
        }
        p->used = true;
        (*count)++;
    }
    return 0;
}

static int open_config(const ctl_cmd_t *cmd, wasp_config_edit_t **ed)
{
    char err[2048];
    int rc = wasp_config_edit_open(cmd->config, ed, err, sizeof(err));

    return rc == WASP_EDIT_OK ? 0 : edit_error(rc, err);
}

static int commit(wasp_config_edit_t *ed)
{
    char err[2048];
    int rc = wasp_config_edit_commit(ed, err, sizeof(err));

    return rc == WASP_EDIT_OK ? 0 : edit_error(rc, err);
}

int ctl_add_apppool(ctl_cmd_t *cmd)
{
    const char *name = ctl_param_value(cmd, "name");
    wasp_config_edit_t *ed = NULL;
    char err[2048];
    size_t count;
    int rc;

    if (name == NULL) {
        name = ctl_identifier(cmd, "apppool");
    }
    if (name == NULL || !*name) {
        return ctl_error(CTL_EXIT_USAGE,
                         "Must specify the \"name\" parameter: waspctl add apppool /name:NAME "
                         "[/attribute:value ...]");
    }
    rc = open_config(cmd, &ed);
    if (rc == 0) {
        rc = wasp_config_edit_pool_add(ed, name, err, sizeof(err));
        rc = rc == WASP_EDIT_OK ? 0 : edit_error(rc, err);
    }
    if (rc == 0) {
        rc = set_attrs(cmd, ed, name, &count);
    }
    if (rc == 0) {
        rc = commit(ed);
    }
    wasp_config_edit_free(ed);
    if (rc != 0) {
        return rc;
    }
    printf("APPPOOL object \"%s\" added\n", name);
    fflush(stdout);
    return ctl_reload(cmd);
}

int ctl_set_apppool(ctl_cmd_t *cmd)
{
    const char *name = ctl_identifier(cmd, "apppool");
    wasp_config_edit_t *ed = NULL;
    size_t count = 0;
    bool changed = false;
    int rc;

    if (name == NULL || !*name) {
        return need_pool_id();
    }
    rc = open_config(cmd, &ed);
    if (rc == 0) {
        rc = set_attrs(cmd, ed, name, &count);
    }
    if (rc == 0 && count == 0) {
        rc = ctl_error(CTL_EXIT_USAGE,
                       "nothing to set: give one or more /attribute:value, e.g. "
                       "/processModel.idleTimeout:00:05:00");
    }
    if (rc == 0) {
        changed = wasp_config_edit_changed(ed);
        rc = commit(ed);
    }
    wasp_config_edit_free(ed);
    if (rc != 0) {
        return rc;
    }
    printf("APPPOOL object \"%s\" changed\n", name);
    fflush(stdout);
    return changed ? ctl_reload(cmd) : 0;
}

static int no_attributes(ctl_cmd_t *cmd)
{
    for (size_t i = 0; i < cmd->param_count; i++) {
        if (!cmd->params[i].used && !ctl_general_param(cmd->params[i].name)) {
            return ctl_error(CTL_EXIT_USAGE,
                             "the parameter /%s does not apply to \"%s %s\"; see waspctl /?",
                             cmd->params[i].name, cmd->verb, cmd->object);
        }
    }
    return 0;
}

int ctl_delete_apppool(ctl_cmd_t *cmd)
{
    const char *name = ctl_identifier(cmd, "apppool");
    wasp_config_edit_t *ed = NULL;
    char err[2048], warn[2048] = "";
    int rc;

    if (name == NULL || !*name) {
        return need_pool_id();
    }
    rc = no_attributes(cmd);
    if (rc == 0) {
        rc = open_config(cmd, &ed);
    }
    if (rc == 0) {
        rc = wasp_config_edit_pool_delete(ed, name, warn, sizeof(warn), err, sizeof(err));
        rc = rc == WASP_EDIT_OK ? 0 : edit_error(rc, err);
    }
    if (rc == 0) {
        rc = commit(ed);
    }
    wasp_config_edit_free(ed);
    if (rc != 0) {
        return rc;
    }
    printf("APPPOOL object \"%s\" deleted\n", name);
    fflush(stdout);
    if (*warn) {
        ctl_warning("%s", warn);
    }
    return ctl_reload(cmd);
}

/* Standard input, one final line break dropped, in *out (malloc'd;
 * wipe it).  Standard input keeps a secret out of the process list and the
 * shell's history. */
static int read_stdin_text(char **out, size_t *len)
{
    size_t cap = 256, n = 0;
    char *buf = malloc(cap);
    int c;

    if (buf == NULL) {
        return ctl_error(CTL_EXIT_FAILED, "out of memory");
    }
    while ((c = getchar()) != EOF) {
        if (c == '\0' || n + 1 >= 65536) {
            wasp_protect_wipe(buf, n);
            free(buf);
            return ctl_error(CTL_EXIT_USAGE, "%s",
                             c == '\0' ? "the text to encrypt contains a NUL byte"
                                       : "the text to encrypt is too long (64 KB at most)");
        }
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);

            if (nb == NULL) {
                wasp_protect_wipe(buf, n);
                free(buf);
                return ctl_error(CTL_EXIT_FAILED, "out of memory");
            }
            buf = nb;
            cap *= 2;
        }
        buf[n++] = (char)c;
    }
    if (n && buf[n - 1] == '\n') {
        n--;
    }
    if (n && buf[n - 1] == '\r') {
        n--;
    }
    buf[n] = '\0';
    *out = buf;
    *len = cap;
    return 0;
}

int ctl_encrypt(const char *text)
{
    char *buf = NULL, *out;
    size_t cap = 0;
    int rc;

    if (text == NULL) {
        rc = read_stdin_text(&buf, &cap);
        if (rc != 0) {
            return rc;
        }
        text = buf;
    }
    rc = encrypt_text("the text", text, &out);
    wasp_protect_wipe(buf, cap);
    free(buf);
    if (rc != 0) {
        return rc;
    }
    printf("%s\n", out);
    free(out);
    return fflush(stdout) == 0 ? 0 : CTL_EXIT_FAILED;
}

/* ---- run-time commands ------------------------------------------------------------ */

/* Save autoStart / serverAutoStart so the state outlives waspd. */
static int persist(const ctl_cmd_t *cmd, bool site, const char *id, bool start,
                   const char *done)
{
    const char *attr = site ? "serverAutoStart" : "autoStart";
    const char *value = start ? "true" : "false";
    wasp_config_edit_t *ed = NULL;
    char err[2048];
    int rc = wasp_config_edit_open(cmd->config, &ed, err, sizeof(err));

    if (rc == WASP_EDIT_OK) {
        rc = site ? wasp_config_edit_site_set(ed, id, attr, value, err, sizeof(err))
                  : wasp_config_edit_pool_set(ed, id, attr, value, err, sizeof(err));
    }
    if (rc == WASP_EDIT_OK) {
        rc = wasp_config_edit_commit(ed, err, sizeof(err));
    }
    wasp_config_edit_free(ed);
    if (rc == WASP_EDIT_OK) {
        return 0;
    }
    return ctl_error(CTL_EXIT_FAILED,
                     "\"%s\" was %s, but %s=\"%s\" could not be saved in %s, so this will not "
                     "last past a restart of waspd: %s",
                     id, done, attr, value, cmd->config, err);
}

/* Send "<verb>-<object> ID" and report as appcmd does. */
static int run(ctl_cmd_t *cmd, const char *type, const char *id)
{
    char word[64], err[1024];
    const char *done;
    const char *words[2] = { word, id };
    ctl_reply_t r;
    int rc;

    snprintf(word, sizeof(word), "%s-%s", cmd->verb, cmd->object);
    done = strcmp(cmd->verb, "start") == 0  ? "started"
           : strcmp(cmd->verb, "stop") == 0 ? "stopped"
                                            : "recycled";
    rc = ctl_call(cmd->rundir, words, 2, CTL_PROGRESS, 0, &r, err, sizeof(err));
    if (rc == CTL_CALL_NOT_RUNNING) {
        rc = ctl_not_running(cmd);
    } else if (rc != CTL_CALL_OK) {
        rc = ctl_error(CTL_EXIT_FAILED, "%s", err);
    } else if (r.status == CTL_EXIT_NOT_FOUND) {
        rc = ctl_error(CTL_EXIT_NOT_FOUND, "Cannot find %s object with identifier \"%s\".", type,
                       id);
    } else if (r.status != 0) {
        rc = ctl_error(r.status > 0 ? r.status : CTL_EXIT_FAILED, "%s",
                       *r.message ? r.message : "waspd refused the command");
    } else {
        if (*r.message) {
            fprintf(stderr, "%s\n", r.message);
        }
        printf("\"%s\" successfully %s\n", id, done); /* appcmd: no period */
        fflush(stdout);
        rc = 0;
    }
    ctl_reply_free(&r);
    if (rc == 0 && strcmp(cmd->verb, "recycle") != 0) {
        rc = persist(cmd, strcmp(type, "SITE") == 0, id, strcmp(cmd->verb, "start") == 0, done);
    }
    return rc;
}

int ctl_run_apppool(ctl_cmd_t *cmd)
{
    const char *id = ctl_identifier(cmd, "apppool");
    int rc;

    if (id == NULL || !*id) {
        return need_pool_id();
    }
    rc = no_attributes(cmd);
    return rc != 0 ? rc : run(cmd, "APPPOOL", id);
}

int ctl_run_site(ctl_cmd_t *cmd)
{
    const char *id = ctl_identifier(cmd, "site");
    int rc;

    if (id == NULL || !*id) {
        return ctl_error(CTL_EXIT_USAGE,
                         "Must specify the SITE object with identifier or \"SITE.NAME\" "
                         "parameter.");
    }
    rc = no_attributes(cmd);
    return rc != 0 ? rc : run(cmd, "SITE", id);
}
