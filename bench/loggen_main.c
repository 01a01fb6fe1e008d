/* okno_loggen: appends a generated event log (see loggen.h); prints one JSON object. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "loggen.h"
#include "okno/error.h"

int main(int argc, char **argv)
{
    okno_loggen_options o;
    okno_loggen_options_init(&o);
    o.conninfo = getenv("OKNO_PG_CONNINFO");
    static const struct option opts[] = {
        {"pg", required_argument, NULL, 'p'},       {"events", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},     {"start-ms", required_argument, NULL, 't'},
        {"step-ms", required_argument, NULL, 'd'},  {"batch", required_argument, NULL, 'b'},
        {"pause-ms", required_argument, NULL, 'w'}, {0, 0, 0, 0},
    };
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        switch (c) {
        case 'p':
            o.conninfo = optarg;
            break;
        case 'n':
            o.events = strtoll(optarg, NULL, 10);
            break;
        case 's':
            o.seed = strtoull(optarg, NULL, 10);
            break;
        case 't':
            o.start_ms = strtoll(optarg, NULL, 10);
            break;
        case 'd':
            o.step_ms = strtoll(optarg, NULL, 10);
            break;
        case 'b':
            o.batch_events = atoi(optarg);
            break;
        case 'w':
            o.pause_ms = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: okno_loggen [--pg CONNINFO] [--events N] [--seed S]"
                            " [--start-ms MS] [--step-ms MS] [--batch N] [--pause-ms MS]\n");
            return 2;
        }
    }
    if (o.conninfo == NULL) {
        fprintf(stderr, "okno_loggen: no database (--pg or $OKNO_PG_CONNINFO)\n");
        return 2;
    }
    okno_loggen_result r;
    int rc = okno_loggen_run(&o, &r);
    if (rc != OKNO_OK) {
        fprintf(stderr, "okno_loggen: %s: %s\n", okno_strerror(rc), r.error);
        return 1;
    }
    printf("{\"events\":%lld,\"messages\":%lld,\"signals\":%lld,\"last_ms\":%lld,\"seconds\":%.3f,"
           "\"events_per_s\":%.0f}\n",
           (long long)r.events, (long long)r.messages, (long long)r.signals, (long long)r.last_ms,
           r.seconds, r.seconds > 0 ? r.events / r.seconds : 0.0);
    return 0;
}
