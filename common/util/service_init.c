/* Service start-up: the command line, the configuration and logging, before any work runs. */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "okno/error.h"
#include "okno/log.h"
#include "util/service_internal.h"

#ifndef OKNO_VERSION
#define OKNO_VERSION "unknown"
#endif

#define ARGS_ERROR_BYTES_MAX 256 /* one command-line complaint */

extern char **environ;

int okno__service_parse_args(int argc, char **argv, struct okno__service_args *args, char *error,
                             size_t error_size)
{
    memset(args, 0, sizeof(*args));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            args->help = true;
        } else if (strcmp(a, "--version") == 0) {
            args->version = true;
        } else if (strcmp(a, "--check-config") == 0) {
            args->check_config = true;
        } else if (strncmp(a, "--config=", 9) == 0 && a[9] != '\0') {
            args->config_path = a + 9;
        } else if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) && i + 1 < argc) {
            args->config_path = argv[++i];
        } else {
            snprintf(error, error_size, "unknown or incomplete argument '%s' (see --help)", a);
            return OKNO_ECONFIG;
        }
    }
    return 0;
}

static const char *service_version(const struct okno_service_info *info)
{
    return info->version != NULL ? info->version : OKNO_VERSION;
}

static void print_help(const struct okno_service *svc, const char *program)
{
    const struct okno_service_info *info = svc->info;
    printf("%s %s: %s\n\n"
           "usage: %s [--config FILE] [--check-config] [--help] [--version]\n"
           "  --config FILE    INI configuration; OKNO_<SECTION>__<KEY> variables override it\n"
           "  --check-config   load and check the configuration, print it (secrets masked), exit\n"
           "exit codes: 0 ok, 1 runtime failure, 2 bad configuration or arguments\n\n"
           "configuration keys:\n",
           info->name, service_version(info), info->summary != NULL ? info->summary : "", program);
    okno_config_describe(&svc->config, stdout);
}

int okno__service_load_config(struct okno_service *svc, const char *path, char *const envp[])
{
    const struct okno_config_key *const tables[] = {okno_config_common_keys, svc->info->keys, NULL};
    struct okno_config *cfg = &svc->config;
    int rc = okno_config_init(cfg, tables);
    if (rc == 0 && path != NULL)
        rc = okno_config_load_file(cfg, path);
    if (rc == 0)
        rc = okno_config_load_env(cfg, envp);
    if (rc == 0)
        rc = okno_config_check(cfg);
    if (rc != 0) {
        okno_log_error("invalid configuration", OKNO_LOG_STR("error", okno_config_error(cfg)),
                       OKNO_LOG_STR("config", path));
        return OKNO_ECONFIG;
    }
    return 0;
}

/* Logging as configured; until now it went out as JSON at info under the service's name. */
static int configure_logging(struct okno_service *svc)
{
    enum okno_log_level level = OKNO_LOG_INFO;
    enum okno_log_format format = OKNO_LOG_JSON;
    okno_log_level_parse(okno_config_get_string(&svc->config, "log.level"), &level);
    okno_log_format_parse(okno_config_get_string(&svc->config, "log.format"), &format);
    return okno_log_configure(svc->info->name, level, format, STDERR_FILENO);
}

/* Runs what the command line asked for; 0 to go on and run the service. */
static int serve_args(struct okno_service *svc, const struct okno__service_args *args,
                      const char *program)
{
    if (args->version) {
        printf("%s %s\n", svc->info->name, service_version(svc->info));
        return OKNO_SERVICE_EXIT;
    }
    if (args->help) {
        print_help(svc, program);
        return OKNO_SERVICE_EXIT;
    }
    int rc = okno__service_load_config(svc, args->config_path, environ);
    if (rc == 0 && args->check_config) {
        /* Also what only the runtime checks (admin.listen); nothing is started. */
        rc = okno__service_setup_runtime(svc);
        if (rc != 0)
            return rc;
        okno_config_dump(&svc->config, stdout);
        printf("# configuration OK\n");
        return OKNO_SERVICE_EXIT;
    }
    return rc;
}

int okno_service_init(struct okno_service *svc, const struct okno_service_info *info, int argc,
                      char **argv)
{
    assert(svc != NULL);
    assert(info != NULL);
    assert(info->name != NULL);
    memset(svc, 0, sizeof(*svc));
    svc->info = info;
    if (okno_log_configure(info->name, OKNO_LOG_INFO, OKNO_LOG_JSON, STDERR_FILENO) != 0)
        return OKNO_EINVAL;
    struct okno__service_args args;
    char error[ARGS_ERROR_BYTES_MAX];
    if (okno__service_parse_args(argc, argv, &args, error, sizeof(error)) != 0) {
        okno_log_error("bad command line", OKNO_LOG_STR("error", error));
        return OKNO_ECONFIG;
    }
    if (args.help || args.version) {
        /* --help lists the keys, so the tables are loaded, but no file or environment. */
        const struct okno_config_key *const tables[] = {okno_config_common_keys, info->keys, NULL};
        if (okno_config_init(&svc->config, tables) != 0)
            return OKNO_ECONFIG;
    }
    int rc = serve_args(svc, &args, argc > 0 ? argv[0] : info->name);
    if (rc != 0)
        return rc;
    rc = configure_logging(svc);
    return rc == 0 ? okno__service_setup_runtime(svc) : rc;
}

int okno_service_exit_code(int rc)
{
    if (rc == 0 || rc == OKNO_SERVICE_EXIT)
        return OKNO_EXIT_OK;
    return rc == OKNO_ECONFIG ? OKNO_EXIT_USAGE : OKNO_EXIT_FAILURE;
}
