/* The weekly summary as one self-contained HTML page: tables and inline SVG charts, no scripts,
 * no fonts or images fetched from anywhere, a print style. Every bar is a <rect class="bar">
 * and every trend point a <circle class="point">, each with data-key and data-value carrying
 * the number it draws (tests compare them with the CSV). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "okno/error.h"

#define CHART_W    640.0
#define CHART_H    200.0 /* the plot area's height */
#define CHART_TOP  24.0
#define CHART_LEFT 48.0
#define CHART_BOT  48.0 /* room for labels under the plot */

static const char *const COLOURS[] = {"#3b6ea5", "#c8553d", "#6a994e", "#8d6a9f"};

static void esc(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '&':
            fputs("&amp;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

typedef struct chart {
    const char *id, *title;
    int groups, series;
    const char *labels[64];
    const char *series_names[4];
    double values[64][4];
    const char *unit; /* "%": values are percentages (one decimal shown); NULL: counts */
    double marks[64]; /* a tick per group (allotments), 0: none */
} chart;

static void bars(FILE *out, const chart *c)
{
    double max = 0;
    for (int g = 0; g < c->groups; g++)
        for (int s = 0; s < c->series; s++)
            max = c->values[g][s] > max ? c->values[g][s] : max;
    for (int g = 0; g < c->groups; g++)
        max = c->marks[g] > max ? c->marks[g] : max;
    double scale = max > 0 ? CHART_H / max : 0;
    double slot = (CHART_W - CHART_LEFT) / (c->groups > 0 ? c->groups : 1);
    double bw = slot * 0.8 / c->series;
    bool pct = c->unit != NULL;
    fprintf(out,
            "<figure><figcaption>%s</figcaption>\n<svg id=\"%s\" class=\"chart\" "
            "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" "
            "height=\"%.0f\" data-max=\"%.6f\" data-plot-height=\"%.0f\" role=\"img\">\n",
            c->title, c->id, CHART_W, CHART_TOP + CHART_H + CHART_BOT, CHART_W,
            CHART_TOP + CHART_H + CHART_BOT, max, CHART_H);
    fprintf(out,
            "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#444\"/>\n"
            "<text x=\"4\" y=\"%.0f\" class=\"axis\">%.1f%s</text>\n"
            "<text x=\"4\" y=\"%.0f\" class=\"axis\">0</text>\n",
            CHART_LEFT, CHART_TOP + CHART_H, CHART_W, CHART_TOP + CHART_H, CHART_TOP + 4, max,
            pct ? " %" : "", CHART_TOP + CHART_H);
    for (int g = 0; g < c->groups; g++) {
        double x0 = CHART_LEFT + slot * g + slot * 0.1;
        for (int s = 0; s < c->series; s++) {
            double v = c->values[g][s], h = v * scale;
            fprintf(out,
                    "<rect class=\"bar\" data-key=\"%s\" data-series=\"%s\" data-value=\"%.*f\" "
                    "x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>%s "
                    "%s: %.6g%s</title></rect>\n",
                    c->labels[g], c->series_names[s], pct ? 6 : 0, v, x0 + bw * s,
                    CHART_TOP + CHART_H - h, bw, h, COLOURS[s % 4], c->labels[g],
                    c->series_names[s], v, pct ? " %" : "");
            fprintf(out, "<text x=\"%.2f\" y=\"%.2f\" class=\"value\">%.*f</text>\n",
                    x0 + bw * s + 1, CHART_TOP + CHART_H - h - 2, pct ? 1 : 0, v);
        }
        if (c->marks[g] > 0)
            fprintf(out,
                    "<line class=\"mark\" data-key=\"%s\" data-value=\"%.0f\" x1=\"%.2f\" "
                    "y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#000\" stroke-width=\"2\" "
                    "stroke-dasharray=\"4 2\"/>\n",
                    c->labels[g], c->marks[g], x0 - 2, CHART_TOP + CHART_H - c->marks[g] * scale,
                    x0 + slot * 0.8 + 2, CHART_TOP + CHART_H - c->marks[g] * scale);
        fprintf(out, "<text x=\"%.2f\" y=\"%.0f\" class=\"label\">", x0, CHART_TOP + CHART_H + 16);
        esc(out, c->labels[g]);
        fputs("</text>\n", out);
    }
    for (int s = 0; s < c->series; s++)
        fprintf(out,
                "<rect x=\"%.0f\" y=\"%.0f\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                "<text x=\"%.0f\" y=\"%.0f\" class=\"legend\">%s</text>\n",
                CHART_LEFT + 150.0 * s, CHART_TOP + CHART_H + 30, COLOURS[s % 4],
                CHART_LEFT + 150.0 * s + 14, CHART_TOP + CHART_H + 39, c->series_names[s]);
    fputs("</svg></figure>\n", out);
}

/* The on-time share per week: a line through the points, the 95 % interval as whiskers. */
static void trend(FILE *out, const okno_report_weekly *w)
{
    double slot = (CHART_W - CHART_LEFT) / OKNO_REPORT_WEEKS;
    fprintf(out,
            "<figure><figcaption>Answered on time, last %d weeks (share, 95 %% Wilson interval, "
            "n under each week)</figcaption>\n<svg id=\"chart-trend\" class=\"chart\" "
            "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" "
            "height=\"%.0f\" data-plot-top=\"%.0f\" data-plot-height=\"%.0f\" role=\"img\">\n",
            OKNO_REPORT_WEEKS, CHART_W, CHART_TOP + CHART_H + CHART_BOT, CHART_W,
            CHART_TOP + CHART_H + CHART_BOT, CHART_TOP, CHART_H);
    for (int p = 0; p <= 100; p += 25)
        fprintf(out,
                "<line x1=\"%.0f\" y1=\"%.2f\" x2=\"%.0f\" y2=\"%.2f\" stroke=\"#ccc\"/>"
                "<text x=\"4\" y=\"%.2f\" class=\"axis\">%d %%</text>\n",
                CHART_LEFT, CHART_TOP + CHART_H * (1 - p / 100.0), CHART_W,
                CHART_TOP + CHART_H * (1 - p / 100.0), CHART_TOP + CHART_H * (1 - p / 100.0) + 4,
                p);
    fputs("<polyline class=\"line\" fill=\"none\" stroke=\"#3b6ea5\" stroke-width=\"2\" points=\"",
          out);
    for (int i = 0; i < OKNO_REPORT_WEEKS; i++)
        if (w->trend[i].on_time.n > 0)
            fprintf(out, "%.2f,%.2f ", CHART_LEFT + slot * (i + 0.5),
                    CHART_TOP + CHART_H * (1 - w->trend[i].on_time.share));
    fputs("\"/>\n", out);
    for (int i = 0; i < OKNO_REPORT_WEEKS; i++) {
        const okno_report_share *s = &w->trend[i].on_time;
        double x = CHART_LEFT + slot * (i + 0.5);
        if (s->n > 0) {
            fprintf(out,
                    "<line class=\"ci\" x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
                    "stroke=\"#3b6ea5\"/>\n<circle class=\"point\" data-key=\"%s\" "
                    "data-value=\"%.6f\" data-n=\"%" PRId64 "\" cx=\"%.2f\" cy=\"%.2f\" r=\"4\" "
                    "fill=\"#3b6ea5\"><title>%s: %.1f %% of %" PRId64 " (%.1f-%.1f %%)</title>"
                    "</circle>\n",
                    x, CHART_TOP + CHART_H * (1 - s->low), x, CHART_TOP + CHART_H * (1 - s->high),
                    w->trend[i].label, s->share, s->n, x, CHART_TOP + CHART_H * (1 - s->share),
                    w->trend[i].label, 100 * s->share, s->n, 100 * s->low, 100 * s->high);
        }
        fprintf(out,
                "<text x=\"%.2f\" y=\"%.0f\" class=\"label\" text-anchor=\"middle\">%s</text>"
                "<text x=\"%.2f\" y=\"%.0f\" class=\"label\" text-anchor=\"middle\">n=%" PRId64
                "</text>\n",
                x, CHART_TOP + CHART_H + 16, w->trend[i].label + 5, x, CHART_TOP + CHART_H + 30,
                s->n);
    }
    fputs("</svg></figure>\n", out);
}

static void share_cell(FILE *out, const okno_report_share *s)
{
    if (s->n == 0)
        fputs("<td>— (n = 0)</td>", out);
    else
        fprintf(out,
                "<td>%.1f %% of %" PRId64
                "<br><span class=\"ci\">(95 %% CI %.1f–%.1f %%)</span></td>",
                100 * s->share, s->n, 100 * s->low, 100 * s->high);
}

static void keyed_table(FILE *out, const char *title, const char *key_name,
                        const okno_report_keyed *rows, size_t count)
{
    fprintf(out,
            "<h2>%s</h2>\n<table><thead><tr><th>%s</th><th>entered</th><th>answered</th>"
            "<th>on time</th><th>answered late</th><th>stage time exceeded</th>"
            "<th>deadline expired</th><th>interim</th><th>redirected</th></tr></thead><tbody>\n",
            title, key_name);
    for (size_t i = 0; i < count; i++) {
        const okno_report_keyed *r = &rows[i];
        fprintf(out, "<tr><td>%" PRId64 " ", r->key);
        esc(out, r->name);
        fprintf(out, "</td><td>%" PRId64 "</td><td>%" PRId64 "</td>", r->c.entered, r->c.answered);
        share_cell(out, &r->on_time);
        fprintf(out,
                "<td>%" PRId64 "</td><td>%" PRId64 "</td><td>%" PRId64 "</td><td>%" PRId64
                "</td><td>%" PRId64 "</td></tr>\n",
                r->c.answered_overdue, r->c.stage_exceeded, r->c.deadline_expired, r->c.interim,
                r->c.redirected);
    }
    fputs("</tbody></table>\n", out);
}

static void hours(char *buf, size_t size, int64_t ms)
{
    snprintf(buf, size, "%.1f h", (double)ms / 3600000.0);
}

int okno_report_weekly_html(FILE *out, const okno_report_weekly *w)
{
    const okno_report_counts *t = &w->week.c;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", out);
    fprintf(out, "Weekly report %s, org %" PRId64 " ", w->week.label, w->org_id);
    esc(out, w->org_name);
    fputs("</title>\n<style>\n"
          "body{font-family:sans-serif;margin:2em;color:#111}\n"
          "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:13px}\n"
          "th,td{border:1px solid #999;padding:0.2em 0.5em;text-align:right}\n"
          "td{white-space:nowrap}\n"
          "th:first-child,td:first-child{text-align:left}\n"
          "figure{margin:1em 0;break-inside:avoid;page-break-inside:avoid}\n"
          "figcaption{font-weight:bold;margin-bottom:0.3em}\n"
          "svg text{font-family:sans-serif;font-size:11px}\n"
          ".ci{color:#555;font-size:90%}\n"
          "@page{size:A4;margin:12mm}\n@media "
          "print{body{margin:0}table{font-size:10px}h2{break-after:avoid}"
          "table,figure{break-inside:avoid}a{color:inherit}}\n"
          "</style></head><body>\n",
          out);
    fprintf(out, "<h1>Weekly report, %s: org %" PRId64 " ", w->week.label, w->org_id);
    esc(out, w->org_name);
    fprintf(out, "</h1>\n<p>%d orgs (the org and its subordinates); ISO week in Moscow time.</p>\n",
            (int)w->org_count);
    fprintf(out,
            "<h2>Summary</h2>\n<table id=\"summary\"><tbody>\n"
            "<tr><td>answered (final)</td><td>%" PRId64 "</td></tr>\n"
            "<tr><td>answered on time</td>",
            t->answered);
    share_cell(out, &w->week.on_time);
    fprintf(out,
            "</tr>\n<tr><td>answered after the deadline</td><td>%" PRId64 "</td></tr>\n"
            "<tr><td>interim answers</td><td>%" PRId64 "</td></tr>\n"
            "<tr><td>redirected</td><td>%" PRId64 "</td></tr>\n"
            "<tr><td>stage visits left over their time</td><td>%" PRId64 "</td></tr>\n"
            "<tr><td>stage time exceeded (signals)</td><td>%" PRId64 "</td></tr>\n"
            "<tr><td>answer deadline expired (signals)</td><td>%" PRId64 "</td></tr>\n"
            "</tbody></table>\n",
            t->answered_overdue, t->interim, t->redirected, t->left_overdue, t->stage_exceeded,
            t->deadline_expired);

    fputs("<h2>By stage</h2>\n<table><thead><tr><th>stage</th><th>entered</th><th>left</th>"
          "<th>left over time</th><th>exceeded</th><th>visits timed</th><th>median</th>"
          "<th>90th percentile</th><th>allotment (median)</th></tr></thead><tbody>\n",
          out);
    chart st = {.id = "chart-stages",
                .title = "Stage visits left this week, and of them over "
                         "the stage's time",
                .groups = OKNO_REPORT_STAGES,
                .series = 2,
                .series_names = {"left_count", "left_overdue"}};
    chart tm = {.id = "chart-times",
                .title = "Time per stage against its allotment: median and 90th percentile of "
                         "the visits left this week, in % of the stage's allotment (median; "
                         "dashed: 100 %)",
                .groups = OKNO_REPORT_STAGES,
                .series = 2,
                .series_names = {"median_pct", "p90_pct"},
                .unit = "%"};
    for (int i = 0; i < OKNO_REPORT_STAGES; i++) {
        const okno_report_stage *s = &w->stages[i];
        char med[24], p90[24], allot[24];
        hours(med, sizeof med, s->median_ms);
        hours(p90, sizeof p90, s->p90_ms);
        hours(allot, sizeof allot, s->allotted_median_ms);
        fprintf(out,
                "<tr><td>%s</td><td>%" PRId64 "</td><td>%" PRId64 "</td><td>%" PRId64
                "</td><td>%" PRId64 "</td><td>%" PRId64 "</td><td>%s</td><td>%s</td><td>%s</td>"
                "</tr>\n",
                okno__report_stage_name(i), s->c.entered, s->c.left_count, s->c.left_overdue,
                s->c.stage_exceeded, s->visits_timed, med, p90, allot);
        st.labels[i] = tm.labels[i] = okno__report_stage_name(i);
        st.values[i][0] = (double)s->c.left_count;
        st.values[i][1] = (double)s->c.left_overdue;
        double allotted = (double)s->allotted_median_ms;
        tm.values[i][0] = allotted > 0 ? 100.0 * (double)s->median_ms / allotted : 0;
        tm.values[i][1] = allotted > 0 ? 100.0 * (double)s->p90_ms / allotted : 0;
        tm.marks[i] = allotted > 0 ? 100.0 : 0;
    }
    fputs("</tbody></table>\n", out);
    bars(out, &st);
    bars(out, &tm);

    fputs("<h2>By answer type</h2>\n<table><thead><tr><th>answer type</th><th>answered</th>"
          "<th>answered late</th><th>interim</th></tr></thead><tbody>\n",
          out);
    chart an = {.id = "chart-answers",
                .title = "Answers approved this week by type",
                .groups = OKNO_REPORT_ANSWER_TYPES,
                .series = 2,
                .series_names = {"answered", "interim"}};
    for (int i = 0; i < OKNO_REPORT_ANSWER_TYPES; i++) {
        const okno_report_counts *c = &w->answer_types[i];
        fprintf(out,
                "<tr><td>%s</td><td>%" PRId64 "</td><td>%" PRId64 "</td><td>%" PRId64
                "</td></tr>\n",
                okno__report_answer_name(i), c->answered, c->answered_overdue, c->interim);
        an.labels[i] = okno__report_answer_name(i);
        an.values[i][0] = (double)c->answered;
        an.values[i][1] = (double)c->interim;
    }
    fputs("</tbody></table>\n", out);
    bars(out, &an);

    keyed_table(out, "By category", "category", w->categories, w->category_count);
    chart ca = {.id = "chart-categories",
                .title = "Answered this week by category",
                .series = 2,
                .series_names = {"answered", "answered_overdue"}};
    char keys[64][24];
    for (size_t i = 0; i < w->category_count && i < 64; i++) {
        snprintf(keys[i], sizeof keys[i], "%" PRId64, w->categories[i].key);
        ca.labels[ca.groups] = keys[i];
        ca.values[ca.groups][0] = (double)w->categories[i].c.answered;
        ca.values[ca.groups][1] = (double)w->categories[i].c.answered_overdue;
        ca.groups++;
    }
    bars(out, &ca);
    keyed_table(out, "By org", "org", w->orgs, w->org_row_count);

    fputs("<h2>Trend</h2>\n<table><thead><tr><th>week</th><th>answered</th><th>on time</th>"
          "<th>answered late</th><th>left over time</th><th>deadline expired</th></tr></thead>"
          "<tbody>\n",
          out);
    for (int i = 0; i < OKNO_REPORT_WEEKS; i++) {
        const okno_report_week *k = &w->trend[i];
        fprintf(out, "<tr><td>%s</td><td>%" PRId64 "</td>", k->label, k->c.answered);
        share_cell(out, &k->on_time);
        fprintf(out, "<td>%" PRId64 "</td><td>%" PRId64 "</td><td>%" PRId64 "</td></tr>\n",
                k->c.answered_overdue, k->c.left_overdue, k->c.deadline_expired);
    }
    fputs("</tbody></table>\n", out);
    trend(out, w);
    fputs("</body></html>\n", out);
    return ferror(out) ? OKNO_EIO : OKNO_OK;
}
