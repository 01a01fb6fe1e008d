/* What the citizen reads: status names and their Russian texts, and Moscow calendar dates. */
#include <stdio.h>

#include "okno/projection.h"
#include "okno/sla.h"
#include "projection/internal.h"

static const char *const STATUS_NAMES[OKNO_PROJ_STATUS_COUNT] = {
    [OKNO_PROJ_STATUS_NONE] = "none",
    [OKNO_PROJ_STATUS_SUBMITTED] = "submitted",
    [OKNO_PROJ_STATUS_ACCEPTED] = "accepted",
    [OKNO_PROJ_STATUS_IN_PROGRESS] = "in_progress",
    [OKNO_PROJ_STATUS_REDIRECTED] = "redirected",
    [OKNO_PROJ_STATUS_POSTPONED] = "postponed",
    [OKNO_PROJ_STATUS_ANSWERED] = "answered",
    [OKNO_PROJ_STATUS_REJECTED] = "rejected",
};

const char *okno_proj_status_name(okno_proj_status status)
{
    if (status < 0 || status >= OKNO_PROJ_STATUS_COUNT)
        return "unknown";
    return STATUS_NAMES[status];
}

int32_t okno__proj_day(int64_t t_ms)
{
    int64_t local = t_ms + OKNO_PROJ_TZ_OFFSET_MS;
    int64_t day = local / OKNO_SLA_DAY_MS;
    if (local % OKNO_SLA_DAY_MS < 0)
        day--; /* floor for times before 1970 */
    return (int32_t)day;
}

/* Howard Hinnant's civil_from_days: exact for every day of the proleptic Gregorian calendar. */
void okno__proj_civil(int32_t day, int *year, int *month, int *mday)
{
    int64_t z = (int64_t)day + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(yoe + era * 400 + (m <= 2));
    *month = (int)m;
    *mday = (int)d;
}

static const char *answer_text(okno_answer_type answer)
{
    switch (answer) {
    case OKNO_ANSWER_RESOLVED:
        return "Дан ответ: проблема решена";
    case OKNO_ANSWER_NOT_RESOLVED:
        return "Дан ответ: проблема не решена";
    case OKNO_ANSWER_REJECTED:
        return "Дан ответ: сообщение отклонено";
    default:
        return "Дан ответ";
    }
}

void okno_proj_status_text(okno_proj_status status, okno_answer_type answer, int64_t date_ms,
                           char *buf, size_t size)
{
    int y, m, d;
    switch (status) {
    case OKNO_PROJ_STATUS_SUBMITTED:
        snprintf(buf, size, "Сообщение отправлено и ожидает модерации");
        break;
    case OKNO_PROJ_STATUS_ACCEPTED:
        snprintf(buf, size, "Сообщение принято и направлено в организацию для рассмотрения");
        break;
    case OKNO_PROJ_STATUS_IN_PROGRESS:
        snprintf(buf, size, "Сообщение рассматривается");
        break;
    case OKNO_PROJ_STATUS_REDIRECTED:
        snprintf(buf, size, "Сообщение перенаправлено в другую организацию");
        break;
    case OKNO_PROJ_STATUS_POSTPONED:
        okno__proj_civil(okno__proj_day(date_ms), &y, &m, &d);
        snprintf(buf, size, "Рассмотрение продлено до %02d.%02d.%04d", d, m, y);
        break;
    case OKNO_PROJ_STATUS_ANSWERED:
        snprintf(buf, size, "%s", answer_text(answer));
        break;
    case OKNO_PROJ_STATUS_REJECTED:
        snprintf(buf, size, "Сообщение отклонено модератором");
        break;
    default:
        snprintf(buf, size, "Статус неизвестен");
        break;
    }
}
