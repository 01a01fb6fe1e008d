/* A minimal okno service for the runtime's process-level tests: it runs until stopped. */
#include <stdio.h>

#include "okno/config.h"
#include "okno/error.h"
#include "okno/log.h"
#include "okno/service.h"

#define PROBE_WAIT_MS 200 /* how often the main loop beats while waiting for a stop */

static const struct okno_config_key probe_keys[] = {
    {.name = "probe.greeting",
     .type = OKNO_CONFIG_STRING,
     .default_value = "hello",
     .doc = "what the probe says at start"},
    {.name = "probe.batch_events_max",
     .type = OKNO_CONFIG_INT,
     .default_value = "10",
     .min = 1,
     .max = 100,
     .doc = "an integer with a range"},
    {.name = NULL},
};

static const struct okno_service_info probe_info = {
    .name = "probe",
    .summary = "test service for the okno runtime",
    .keys = probe_keys,
};

static struct okno_service svc;

int main(int argc, char **argv)
{
    int rc = okno_service_init(&svc, &probe_info, argc, argv);
    if (rc == 0)
        rc = okno_service_start(&svc);
    if (rc == 0) {
        okno_log_info(
            "probe running",
            OKNO_LOG_STR("greeting", okno_config_get_string(&svc.config, "probe.greeting")));
        okno_service_set_ready(&svc, true, NULL);
        while (okno_service_wait(&svc, PROBE_WAIT_MS) == OKNO_ETIMEDOUT)
            okno_service_heartbeat(&svc);
    }
    okno_service_close(&svc);
    return okno_service_exit_code(rc);
}
