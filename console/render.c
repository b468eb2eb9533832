/*
 * render.c - the console's pages. Each route builds its answer from the
 * store under its lock, as one JSON value (the `Accept: application/json`
 * answer) or as server-rendered HTML whose every byte from Kafka went
 * through cbuf_html() (or cbuf_url() inside links), so a run whose
 * parameters hold markup shows the markup as text. Pages work without
 * JavaScript; a small inline script, allowed by its hash in the page's
 * Content-Security-Policy and by nothing else, refreshes the <main> part
 * in place while the page says it may change (body data-refresh).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "console_int.h"

#define PAGE_MAX ((size_t)8 << 20) /* largest page rendered */
#define LAST_RUNS 5                /* runs shown per deployment */
#define NEXT_FIRES 3               /* fire times shown per schedule */

static const char script_text[] =
        "(function(){var b=document.body,t=+b.getAttribute('data-refresh');"
        "if(!window.fetch||!window.DOMParser)return;"
        "function tick(){if(!t)return;fetch(location.href,{headers:{Accept:"
        "'text/html'},cache:'no-store'}).then(function(r){return r.text()})"
        ".then(function(h){var d=new DOMParser().parseFromString(h,"
        "'text/html'),m=d.querySelector('main'),o=document.querySelector("
        "'main');if(m&&o)o.replaceWith(m);t=+d.body.getAttribute("
        "'data-refresh');b.setAttribute('data-refresh',String(t||0));})"
        ".catch(function(){}).then(function(){if(t)setTimeout(tick,t);});}"
        "if(t)setTimeout(tick,t);})();";

static char script_csp[80];
static pthread_once_t script_once = PTHREAD_ONCE_INIT;

static void script_hash(void) {
        unsigned char md[32], b64[64];
        unsigned int n = 0;

        EVP_Digest(script_text, strlen(script_text), md, &n, EVP_sha256(),
                   NULL);
        EVP_EncodeBlock(b64, md, (int)n);
        snprintf(script_csp, sizeof(script_csp), "'sha256-%s'", b64);
}

const char *crender_script(void) {
        return script_text;
}

const char *crender_script_csp(void) {
        pthread_once(&script_once, script_hash);
        return script_csp;
}

static int http_url(const char *s) {
        return s && (!strncmp(s, "https://", 8) || !strncmp(s, "http://", 7));
}

const char *crun_backend_url(const char *ref, json_t **tmp) {
        json_error_t jerr;
        const char *u;

        *tmp = NULL;
        if (!ref)
                return NULL;
        if (http_url(ref))
                return ref;
        if (ref[0] != '{' || !(*tmp = json_loads(ref, 0, &jerr)))
                return NULL;
        u = cjson_str(*tmp, "url");
        return http_url(u) ? u : NULL;
}

/* The run's status: its RunState's, else the last reply's. */
static const char *run_status(const json_t *run) {
        const char *st = cjson_str(json_object_get(run, "state"), "status");
        json_t *events = json_object_get(run, "events"), *e;
        size_t i;

        if (st)
                return st;
        for (i = json_array_size(events); i-- > 0;) {
                e = json_array_get(events, i);
                if (!strcmp(cjson_str(e, "kind"), "reply") &&
                    crun_state_valid(cjson_str(e, "status")))
                        return cjson_str(e, "status");
        }
        return "UNKNOWN";
}

/* ------------------------------------------------------- page frame */

static void time_html(cbuf_t *b, int64_t ms) {
        char iso[40];

        if (ms <= 0) {
                cbuf_puts(b, "-");
                return;
        }
        floq_ms_to_iso(ms, iso, sizeof(iso));
        cbuf_printf(b, "<time datetime=\"%s\">%s</time>", iso, iso);
}

static void head(cbuf_t *b, const char *title, int refresh_ms) {
        cbuf_puts(b, "<!doctype html>\n<html lang=\"en\"><head>"
                     "<meta charset=\"utf-8\">"
                     "<meta name=\"viewport\" content=\"width=device-width\">"
                     "<title>floq \xc2\xb7 ");
        cbuf_html(b, title);
        cbuf_puts(b, "</title><style>"
                     "body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5em}"
                     "header{padding:.6em 0;border-bottom:1px solid #ccc}"
                     "header a{margin-right:1.2em}"
                     "table{border-collapse:collapse;margin:.5em 0}"
                     "td,th{border:1px solid #ddd;padding:.2em .5em;"
                     "text-align:left;vertical-align:top}"
                     "pre{background:#f6f6f6;padding:.5em;overflow:auto;"
                     "max-height:30em;white-space:pre-wrap}"
                     "dt{font-weight:bold;float:left;clear:left;width:11em}"
                     "dd{margin-left:12em}"
                     ".SUCCEEDED{color:#070}.FAILED,.TIMED_OUT,.LOST{color:#b00}"
                     ".RUNNING,.ACCEPTED,.RETRYING{color:#05a}"
                     "footer{color:#666;border-top:1px solid #ccc;"
                     "margin-top:2em;padding:.5em 0;font-size:12px}"
                     "</style></head>\n");
        cbuf_printf(b, "<body data-refresh=\"%d\"><header>"
                       "<strong>floq</strong> "
                       "<a href=\"/runs\">Runs</a>"
                       "<a href=\"/deployments\">Deployments</a>"
                       "<a href=\"/dlq\">DLQ</a></header>\n<main>",
                    refresh_ms);
}

static void foot(cbuf_t *b, const cstore_t *s) {
        cbuf_puts(b, "</main>\n<footer>");
        if (!s->restored)
                cbuf_puts(b, "<p><strong>Restoring</strong>: the state "
                             "topics are still being read; this page may be "
                             "incomplete.</p>");
        cbuf_printf(b, "<p>This console keeps what it read in memory, "
                       "bounded: at most %lld runs, %lld replies and lineage "
                       "events per run and %lld in total, the last %lld "
                       "DLQ records, %lld bytes of any one text field "
                       "(longer ones are cut, marked \xe2\x80\xa6) and %lld "
                       "bytes in all (past them the oldest runs go); replies, "
                       "lineage and DLQ records older than its start minus "
                       "console.history.ms are not shown. %lld records "
                       "could not be read.</p>",
                    (long long)s->lim.runs_max,
                    (long long)s->lim.run_events_max,
                    (long long)s->lim.events_max, (long long)s->lim.dlq_max,
                    (long long)s->lim.field_max, (long long)s->lim.bytes_max,
                    (long long)s->undecodable);
        cbuf_puts(b, "<noscript><p>Reload to see changes.</p></noscript>"
                     "</footer><script>");
        cbuf_puts(b, script_text);
        cbuf_puts(b, "</script></body></html>\n");
}

static void run_link(cbuf_t *b, const char *id) {
        cbuf_puts(b, "<a href=\"/runs/");
        cbuf_url(b, id);
        cbuf_puts(b, "\">");
        cbuf_html(b, id);
        cbuf_puts(b, "</a>");
}

static void state_html(cbuf_t *b, const char *st, const char *id) {
        cbuf_puts(b, "<span ");
        if (id)
                cbuf_printf(b, "id=\"%s\" ", id);
        cbuf_puts(b, "class=\"state ");
        cbuf_html(b, st);
        cbuf_puts(b, "\">");
        cbuf_html(b, st);
        cbuf_puts(b, "</span>");
}

static void text_or_dash(cbuf_t *b, const char *s) {
        if (s && *s)
                cbuf_html(b, s);
        else
                cbuf_puts(b, "-");
}

/* ------------------------------------------------------------ a run */

static int cmp_attempt(const void *a, const void *b) {
        int64_t x = cjson_int(*(json_t *const *)a, "attempt");
        int64_t y = cjson_int(*(json_t *const *)b, "attempt");

        return x < y ? -1 : x > y;
}

/* The attempts of @p run sorted by number, as a new array. */
static json_t *attempts_sorted(const json_t *run) {
        json_t *atts = json_object_get(run, "attempts"), *a, *out;
        json_t **v;
        const char *k;
        size_t n = 0, i;

        out = json_array();
        if (!(v = calloc(json_object_size(atts) + 1, sizeof(*v))))
                return out;
        json_object_foreach(atts, k, a) v[n++] = a;
        qsort(v, n, sizeof(*v), cmp_attempt);
        for (i = 0; i < n; i++)
                json_array_append(out, v[i]);
        free(v);
        return out;
}

static json_t *run_json(const cstore_t *s, const json_t *run, int full) {
        json_t *st = json_object_get(run, "state"), *dep, *o, *tmp = NULL;
        const char *ref = cjson_str(st, "backend_ref"), *url;

        dep = json_object_get(s->deployments, cjson_str(run, "deployment") ?
                              cjson_str(run, "deployment") : "");
        o = json_pack("{s:O, s:O, s:s, s:O, s:O}", "run_id",
                      json_object_get(run, "run_id"), "deployment",
                      json_object_get(run, "deployment"), "state",
                      run_status(run), "created_at",
                      json_object_get(run, "created_at"), "updated_at",
                      json_object_get(run, "updated_at"));
        if (!o)
                return NULL;
        json_object_set_new(o, "attempt",
                            json_integer(cjson_int(st, "attempt")));
        json_object_set(o, "worker", json_object_get(st, "worker") ?
                                     json_object_get(st, "worker")
                                     : json_null());
        json_object_set(o, "finished_at", json_object_get(st, "finished_at") ?
                                          json_object_get(st, "finished_at")
                                          : json_null());
        if (!full)
                return o;
        json_object_set_new(o, "backend", cjson_str(dep, "backend") ?
                            json_string(cjson_str(dep, "backend")) : json_null());
        json_object_set_new(o, "backend_ref",
                            ref ? json_string(ref) : json_null());
        url = crun_backend_url(ref, &tmp);
        if (!url) /* a backend page a reply named (store.c) */
                url = cjson_str(run, "backend_url");
        json_object_set_new(o, "backend_url",
                            url ? json_string(url) : json_null());
        json_object_set(o, "run_url", json_object_get(run, "run_url") ?
                                      json_object_get(run, "run_url")
                                      : json_null());
        json_decref(tmp);
        {
                static const char *const keys[] = {
                        "started_at", "scheduled_for", "schedule_id",
                        "parent_run_id", "reason", "exit_code", "timeout_ms",
                        "next_attempt_at", "idempotency_key",
                        "correlation_id", NULL,
                };
                int i;

                for (i = 0; keys[i]; i++)
                        json_object_set(o, keys[i],
                                        json_object_get(st, keys[i]) ?
                                        json_object_get(st, keys[i])
                                        : json_null());
        }
        json_object_set(o, "params", json_object_get(st, "params") ?
                                     json_object_get(st, "params")
                                     : json_object());
        json_object_set(o, "output_tail", json_object_get(run, "output_tail"));
        json_object_set_new(o, "attempts", attempts_sorted(run));
        json_object_set_new(o, "lineage",
                            json_pack("{s:O, s:O}", "inputs",
                                      json_object_get(run, "inputs"),
                                      "outputs",
                                      json_object_get(run, "outputs")));
        json_object_set(o, "command_ids", json_object_get(run, "command_ids"));
        json_object_set(o, "events", json_object_get(run, "events"));
        return o;
}

static void datasets_html(cbuf_t *b, const json_t *arr, const char *id) {
        size_t i;
        json_t *d;

        cbuf_printf(b, "<ul id=\"%s\">", id);
        if (!json_array_size(arr))
                cbuf_puts(b, "<li>none reported</li>");
        json_array_foreach(arr, i, d) {
                cbuf_puts(b, "<li><code>");
                cbuf_html(b, cjson_str(d, "namespace"));
                cbuf_puts(b, "</code> <code>");
                cbuf_html(b, cjson_str(d, "name"));
                cbuf_puts(b, "</code></li>");
        }
        cbuf_puts(b, "</ul>");
}

static void dd_time(cbuf_t *b, const char *label, const json_t *v) {
        cbuf_printf(b, "<dt>%s</dt><dd>", label);
        time_html(b, json_is_integer(v) ? json_integer_value(v) : 0);
        cbuf_puts(b, "</dd>");
}

static void dd_text(cbuf_t *b, const char *label, const char *v) {
        cbuf_printf(b, "<dt>%s</dt><dd>", label);
        text_or_dash(b, v);
        cbuf_puts(b, "</dd>");
}

static void run_html(cbuf_t *b, const json_t *o) {
        const char *st = cjson_str(o, "state"), *k, *u;
        json_t *v, *params = json_object_get(o, "params");
        size_t i;

        cbuf_puts(b, "<h1>Run <code id=\"run-id\">");
        cbuf_html(b, cjson_str(o, "run_id"));
        cbuf_puts(b, "</code></h1><dl>");
        cbuf_puts(b, "<dt>State</dt><dd>");
        state_html(b, st, "state");
        cbuf_puts(b, "</dd><dt>Deployment</dt><dd>");
        if (cjson_str(o, "deployment")) {
                cbuf_puts(b, "<a href=\"/runs?deployment=");
                cbuf_url(b, cjson_str(o, "deployment"));
                cbuf_puts(b, "\">");
                cbuf_html(b, cjson_str(o, "deployment"));
                cbuf_puts(b, "</a>");
        } else {
                cbuf_puts(b, "-");
        }
        cbuf_printf(b, "</dd><dt>Attempt</dt><dd>%lld</dd>",
                    (long long)cjson_int(o, "attempt"));
        dd_text(b, "Worker", cjson_str(o, "worker"));
        dd_text(b, "Backend", cjson_str(o, "backend"));
        cbuf_puts(b, "<dt>Backend run</dt><dd id=\"backend-ref\">");
        if ((u = cjson_str(o, "backend_url"))) {
                cbuf_puts(b, "<a rel=\"noopener noreferrer\" href=\"");
                cbuf_html(b, u);
                cbuf_puts(b, "\">");
                cbuf_html(b, cjson_str(o, "backend_ref"));
                cbuf_puts(b, "</a>");
        } else {
                text_or_dash(b, cjson_str(o, "backend_ref"));
        }
        cbuf_puts(b, "</dd>");
        dd_time(b, "Created", json_object_get(o, "created_at"));
        dd_time(b, "Started", json_object_get(o, "started_at"));
        dd_time(b, "Finished", json_object_get(o, "finished_at"));
        if (json_is_integer(json_object_get(o, "scheduled_for")))
                dd_time(b, "Scheduled for",
                        json_object_get(o, "scheduled_for"));
        dd_text(b, "Reason", cjson_str(o, "reason"));
        cbuf_puts(b, "<dt>Exit code</dt><dd>");
        if (json_is_integer(json_object_get(o, "exit_code")))
                cbuf_printf(b, "%lld", (long long)cjson_int(o, "exit_code"));
        else
                cbuf_puts(b, "-");
        cbuf_puts(b, "</dd></dl>");

        cbuf_puts(b, "<h2>Parameters</h2><table id=\"params\">");
        if (!json_object_size(params))
                cbuf_puts(b, "<tr><td>none</td></tr>");
        json_object_foreach(params, k, v) {
                cbuf_puts(b, "<tr><th>");
                cbuf_html(b, k);
                cbuf_puts(b, "</th><td>");
                cbuf_html(b, json_string_value(v));
                cbuf_puts(b, "</td></tr>");
        }
        cbuf_puts(b, "</table>");

        cbuf_puts(b, "<h2>Attempts</h2><table id=\"attempts\"><tr>"
                     "<th>#</th><th>worker</th><th>started</th>"
                     "<th>last heartbeat</th><th>finished</th>"
                     "<th>outcome</th><th>reason</th></tr>");
        json_array_foreach(json_object_get(o, "attempts"), i, v) {
                cbuf_printf(b, "<tr><td>%lld</td><td>",
                            (long long)cjson_int(v, "attempt"));
                text_or_dash(b, cjson_str(v, "worker"));
                cbuf_puts(b, "</td><td>");
                time_html(b, cjson_int(v, "started_at"));
                cbuf_puts(b, "</td><td>");
                time_html(b, cjson_int(v, "last_heartbeat_at"));
                cbuf_puts(b, "</td><td>");
                time_html(b, cjson_int(v, "finished_at"));
                cbuf_puts(b, "</td><td>");
                text_or_dash(b, cjson_str(v, "status"));
                cbuf_puts(b, "</td><td>");
                text_or_dash(b, cjson_str(v, "reason"));
                cbuf_puts(b, "</td></tr>");
        }
        cbuf_puts(b, "</table>");

        cbuf_puts(b, "<h2>Output tail</h2><pre id=\"output\">");
        cbuf_html(b, cjson_str(o, "output_tail"));
        cbuf_puts(b, "</pre>");

        cbuf_puts(b, "<h2>Lineage</h2><h3>Inputs</h3>");
        datasets_html(b, json_object_get(json_object_get(o, "lineage"),
                                         "inputs"), "inputs");
        cbuf_puts(b, "<h3>Outputs</h3>");
        datasets_html(b, json_object_get(json_object_get(o, "lineage"),
                                         "outputs"), "outputs");

        cbuf_puts(b, "<h2>Commands</h2><ul id=\"commands\">");
        json_array_foreach(json_object_get(o, "command_ids"), i, v) {
                cbuf_puts(b, "<li><code>");
                cbuf_html(b, json_string_value(v));
                cbuf_puts(b, "</code></li>");
        }
        cbuf_puts(b, "</ul>");

        cbuf_puts(b, "<h2>Events</h2><table id=\"events\"><tr><th>at</th>"
                     "<th>kind</th><th>status</th><th>attempt</th>"
                     "<th>worker</th><th>command</th><th>detail</th></tr>");
        json_array_foreach(json_object_get(o, "events"), i, v) {
                cbuf_puts(b, "<tr><td>");
                time_html(b, cjson_int(v, "at"));
                cbuf_puts(b, "</td><td>");
                cbuf_html(b, cjson_str(v, "kind"));
                cbuf_puts(b, "</td><td>");
                cbuf_html(b, cjson_str(v, "status"));
                cbuf_puts(b, "</td><td>");
                if (json_is_integer(json_object_get(v, "attempt")))
                        cbuf_printf(b, "%lld", (long long)cjson_int(v, "attempt"));
                cbuf_puts(b, "</td><td>");
                cbuf_html(b, cjson_str(v, "worker"));
                cbuf_puts(b, "</td><td><code>");
                cbuf_html(b, cjson_str(v, "command_id"));
                cbuf_puts(b, "</code></td><td>");
                cbuf_html(b, cjson_str(v, "reason") ? cjson_str(v, "reason")
                                               : cjson_str(v, "job"));
                cbuf_puts(b, "</td></tr>");
        }
        cbuf_puts(b, "</table>");
}

/* ------------------------------------------------------ run listing */

/* A run with its sort key read once (a comparison looking both up in
 * their objects made /runs cost 190 ms at 100,000 runs, under the lock). */
typedef struct sorted_s {
        int64_t created;
        const char *id;
        json_t *run;
} sorted_t;

static int cmp_newest(const void *a, const void *b) {
        const sorted_t *x = a, *y = b;

        if (x->created != y->created)
                return x->created > y->created ? -1 : 1;
        return strcmp(y->id, x->id);
}

/* Every run, newest first (by creation, then id): a malloc()ed array of
 * borrowed values, *np of them. */
static json_t **runs_sorted(const cstore_t *s, size_t *np) {
        size_t cnt = json_object_size(s->runs), n = 0, i;
        sorted_t *k = calloc(cnt + 1, sizeof(*k));
        json_t **v = calloc(cnt + 1, sizeof(*v)), *r;
        const char *id;

        if (!k || !v) {
                free(k);
                free(v);
                return NULL;
        }
        json_object_foreach(s->runs, id, r) {
                k[n].created = cjson_int(r, "created_at");
                k[n].id = id; /* the key: the run's run_id */
                k[n++].run = r;
        }
        qsort(k, n, sizeof(*k), cmp_newest);
        for (i = 0; i < n; i++)
                v[i] = k[i].run;
        free(k);
        *np = n;
        return v;
}

static int run_matches(const json_t *r, const cfilter_t *f) {
        const char *d = cjson_str(r, "deployment");
        int64_t t = cjson_int(r, "created_at");

        if (f->deployment && (!d || strcmp(d, f->deployment)))
                return 0;
        if (f->state && strcmp(run_status(r), f->state))
                return 0;
        if (f->since_ms >= 0 && t < f->since_ms)
                return 0;
        if (f->until_ms >= 0 && t >= f->until_ms)
                return 0;
        return 1;
}

static void filter_query(cbuf_t *b, const cfilter_t *f, int64_t page) {
        char num[32];

        cbuf_puts(b, "/runs?");
        if (f->deployment) {
                cbuf_puts(b, "deployment=");
                cbuf_url(b, f->deployment);
                cbuf_puts(b, "&amp;");
        }
        if (f->state)
                cbuf_printf(b, "state=%s&amp;", f->state);
        if (f->since_ms >= 0)
                cbuf_printf(b, "since=%lld&amp;", (long long)f->since_ms);
        if (f->until_ms >= 0)
                cbuf_printf(b, "until=%lld&amp;", (long long)f->until_ms);
        snprintf(num, sizeof(num), "%lld", (long long)page);
        cbuf_printf(b, "per_page=%lld&amp;page=%s", (long long)f->per_page,
                    num);
}

static json_t *runs_json(const cstore_t *s, const cfilter_t *f) {
        size_t n = 0, i;
        json_t **v = runs_sorted(s, &n), *items = json_array(), *o;
        int64_t matched = 0, first = (f->page - 1) * f->per_page;

        for (i = 0; v && i < n; i++) {
                if (!run_matches(v[i], f))
                        continue;
                if (matched >= first && matched < first + f->per_page)
                        json_array_append_new(items, run_json(s, v[i], 0));
                matched++;
        }
        free(v);
        o = json_pack("{s:o, s:I, s:I, s:I, s:I}", "runs", items, "total",
                      (json_int_t)matched, "page", (json_int_t)f->page,
                      "per_page", (json_int_t)f->per_page, "pages",
                      (json_int_t)((matched + f->per_page - 1) / f->per_page));
        if (o) {
                json_object_set_new(o, "filter", json_pack(
                        "{s:s?, s:s?}", "deployment", f->deployment, "state",
                        f->state));
                json_object_set_new(json_object_get(o, "filter"), "since",
                                    f->since_ms >= 0 ? json_integer(f->since_ms)
                                                     : json_null());
                json_object_set_new(json_object_get(o, "filter"), "until",
                                    f->until_ms >= 0 ? json_integer(f->until_ms)
                                                     : json_null());
        }
        return o;
}

static void runs_html(cbuf_t *b, const json_t *o, const cfilter_t *f) {
        json_t *r;
        size_t i;
        int64_t pages = cjson_int(o, "pages");
        static const char *const states[] = {
                "ACCEPTED", "RUNNING",   "RETRYING", "SUCCEEDED", "FAILED",
                "CANCELLED", "TIMED_OUT", "LOST",    NULL,
        };

        cbuf_puts(b, "<h1>Runs</h1><form method=\"get\" action=\"/runs\">"
                     "<label>deployment <input name=\"deployment\" value=\"");
        cbuf_html(b, f->deployment);
        cbuf_puts(b, "\"></label> <label>state <select name=\"state\">"
                     "<option value=\"\">any</option>");
        for (i = 0; states[i]; i++)
                cbuf_printf(b, "<option%s>%s</option>",
                            f->state && !strcmp(f->state, states[i])
                                    ? " selected" : "",
                            states[i]);
        cbuf_puts(b, "</select></label> <label>since <input name=\"since\" "
                     "placeholder=\"2026-01-01T00:00:00Z\"");
        if (f->since_ms >= 0)
                cbuf_printf(b, " value=\"%lld\"", (long long)f->since_ms);
        cbuf_puts(b, "></label> <label>until <input name=\"until\"");
        if (f->until_ms >= 0)
                cbuf_printf(b, " value=\"%lld\"", (long long)f->until_ms);
        cbuf_puts(b, "></label> <button>filter</button></form>");
        cbuf_printf(b, "<p id=\"total\">%lld runs, page %lld of %lld</p>",
                    (long long)cjson_int(o, "total"), (long long)f->page,
                    (long long)(pages ? pages : 1));
        cbuf_puts(b, "<table id=\"runs\"><tr><th>run</th><th>deployment</th>"
                     "<th>state</th><th>attempt</th><th>worker</th>"
                     "<th>created</th><th>finished</th></tr>");
        json_array_foreach(json_object_get(o, "runs"), i, r) {
                cbuf_puts(b, "<tr><td>");
                run_link(b, cjson_str(r, "run_id"));
                cbuf_puts(b, "</td><td>");
                text_or_dash(b, cjson_str(r, "deployment"));
                cbuf_puts(b, "</td><td>");
                state_html(b, cjson_str(r, "state"), NULL);
                cbuf_printf(b, "</td><td>%lld</td><td>",
                            (long long)cjson_int(r, "attempt"));
                text_or_dash(b, cjson_str(r, "worker"));
                cbuf_puts(b, "</td><td>");
                time_html(b, cjson_int(r, "created_at"));
                cbuf_puts(b, "</td><td>");
                time_html(b, cjson_int(r, "finished_at"));
                cbuf_puts(b, "</td></tr>");
        }
        cbuf_puts(b, "</table><p>");
        if (f->page > 1) {
                cbuf_puts(b, "<a rel=\"prev\" href=\"");
                filter_query(b, f, f->page - 1);
                cbuf_puts(b, "\">newer</a> ");
        }
        if (f->page < pages) {
                cbuf_puts(b, "<a rel=\"next\" href=\"");
                filter_query(b, f, f->page + 1);
                cbuf_puts(b, "\">older</a>");
        }
        cbuf_puts(b, "</p>");
}

/* ------------------------------------------------------ deployments */

static json_t *next_fires(const json_t *sch, int64_t now) {
        json_t *out = json_array();
        const char *cron = cjson_str(sch, "cron"), *zone = cjson_str(sch, "timezone");
        floq_cron_t c;
        floq_tz_t *tz;
        char err[200], line[FLOQ_CRON_FIRE_BUFSZ];
        int64_t t = now, lf = cjson_int(sch, "last_fired"),
                start = cjson_int(sch, "start_at"), end = cjson_int(sch, "end_at");
        int i;

        if (json_is_true(json_object_get(sch, "paused")) || !cron)
                return out;
        if (floq_cron_parse(cron, &c, err, sizeof(err)) ||
            !(tz = floq_tz_load(zone ? zone : "UTC", err, sizeof(err))))
                return out;
        if (lf > t)
                t = lf;
        if (start > t)
                t = start - 1;
        for (i = 0; i < NEXT_FIRES; i++) {
                if ((t = floq_cron_next(&c, tz, t)) < 0 || (end && t > end))
                        break;
                floq_cron_format_fire(t, tz, line, sizeof(line));
                json_array_append_new(out, json_pack("{s:I, s:s}", "at",
                                                     (json_int_t)t, "local",
                                                     line));
        }
        floq_tz_destroy(tz);
        return out;
}

static json_t *deployments_json(const cstore_t *s, int64_t now) {
        json_t *out = json_object(), *names = json_array(), *d, *r, *list;
        size_t n = 0, i;
        json_t **v = runs_sorted(s, &n);
        const char *k;

        /* every name with a deployment or a schedule set */
        json_object_foreach(s->deployments, k, d) json_array_append_new(
                names, json_string(k));
        json_object_foreach(s->schedules, k, d) if (!json_object_get(
                s->deployments, k)) json_array_append_new(names,
                                                          json_string(k));
        json_array_foreach(names, i, d) {
                const char *name = json_string_value(d);
                json_t *dep = json_object_get(s->deployments, name);
                json_t *set = json_object_get(s->schedules, name), *x, *sch;
                json_t *o = json_object();
                size_t j;

                json_object_set_new(o, "name", json_string(name));
                json_object_set_new(o, "deployed", json_boolean(dep != NULL));
                json_object_set(o, "backend", json_object_get(dep, "backend")
                                ? json_object_get(dep, "backend") : json_null());
                json_object_set(o, "enabled", dep ? json_object_get(dep,
                                "enabled") : json_false());
                json_object_set(o, "generation", json_object_get(dep,
                                "generation") ? json_object_get(dep,
                                "generation") : json_null());
                json_object_set(o, "updated_at", json_object_get(dep,
                                "updated_at") ? json_object_get(dep,
                                "updated_at") : json_null());
                json_object_set(o, "spec", json_object_get(dep, "spec") ?
                                json_object_get(dep, "spec") : json_null());
                json_object_set(o, "artifact_url", json_object_get(dep,
                                "artifact_url") ? json_object_get(dep,
                                "artifact_url") : json_null());
                json_object_set(o, "timeout_ms", json_object_get(dep,
                                "timeout_ms") ? json_object_get(dep,
                                "timeout_ms") : json_null());
                json_object_set(o, "retry", json_object_get(dep, "retry") ?
                                json_object_get(dep, "retry") : json_null());
                json_object_set_new(o, "last_runs", json_array());
                list = json_array();
                json_array_foreach(json_object_get(set, "schedules"), j, sch) {
                        x = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}",
                                      "schedule_id",
                                      json_object_get(sch, "schedule_id"),
                                      "cron", json_object_get(sch, "cron"),
                                      "timezone",
                                      json_object_get(sch, "timezone"),
                                      "paused", json_object_get(sch, "paused"),
                                      "catchup",
                                      json_object_get(sch, "catchup"),
                                      "overlap",
                                      json_object_get(sch, "overlap"));
                        if (x) {
                                json_object_set_new(x, "next_fires",
                                                    next_fires(sch, now));
                                json_array_append_new(list, x);
                        }
                }
                json_object_set_new(o, "schedules", list);
                json_object_set_new(out, name, o);
        }
        for (i = 0; v && i < n; i++) {
                json_t *o = json_object_get(out, cjson_str(v[i], "deployment") ?
                                            cjson_str(v[i], "deployment") : "");

                r = json_object_get(o, "last_runs");
                if (r && json_array_size(r) < LAST_RUNS)
                        json_array_append_new(r, run_json(s, v[i], 0));
        }
        free(v);
        json_decref(names);
        return json_pack("{s:o}", "deployments", out);
}

static void deployments_html(cbuf_t *b, const json_t *o) {
        json_t *d, *x, *r, *fire;
        const char *k;
        size_t j;

        cbuf_puts(b, "<h1>Deployments</h1>");
        if (!json_object_size(json_object_get(o, "deployments")))
                cbuf_puts(b, "<p>No deployments.</p>");
        json_object_foreach(json_object_get(o, "deployments"), k, d) {
                cbuf_puts(b, "<section class=\"deployment\"><h2>");
                cbuf_html(b, k);
                cbuf_puts(b, "</h2><dl>");
                dd_text(b, "Backend", cjson_str(d, "backend"));
                cbuf_printf(b, "<dt>Enabled</dt><dd>%s</dd>",
                            !json_is_true(json_object_get(d, "deployed"))
                                    ? "not deployed"
                            : json_is_true(json_object_get(d, "enabled"))
                                    ? "yes" : "no (stopped)");
                cbuf_printf(b, "<dt>Generation</dt><dd>%lld</dd>",
                            (long long)cjson_int(d, "generation"));
                dd_time(b, "Updated", json_object_get(d, "updated_at"));
                cbuf_puts(b, "<dt>Spec</dt><dd><code>");
                {
                        const char *spec = cjson_str(d, "spec");
                        char cut[301];

                        if (spec && strlen(spec) > 300) {
                                size_t c = 300;

                                while (c > 0 &&
                                       ((unsigned char)spec[c] & 0xC0) == 0x80)
                                        c--;
                                memcpy(cut, spec, c);
                                cut[c] = '\0';
                                cbuf_html(b, cut);
                                cbuf_puts(b, "\xe2\x80\xa6");
                        } else {
                                text_or_dash(b, spec);
                        }
                }
                cbuf_puts(b, "</code></dd>");
                dd_text(b, "Artifact", cjson_str(d, "artifact_url"));
                cbuf_puts(b, "</dl><h3>Schedules</h3>");
                if (!json_array_size(json_object_get(d, "schedules")))
                        cbuf_puts(b, "<p>none</p>");
                else
                        cbuf_puts(b, "<table><tr><th>id</th><th>cron</th>"
                                     "<th>zone</th><th>policies</th>"
                                     "<th>next fire times</th></tr>");
                json_array_foreach(json_object_get(d, "schedules"), j, x) {
                        size_t f;

                        cbuf_puts(b, "<tr><td>");
                        cbuf_html(b, cjson_str(x, "schedule_id"));
                        cbuf_puts(b, "</td><td><code>");
                        cbuf_html(b, cjson_str(x, "cron"));
                        cbuf_puts(b, "</code></td><td>");
                        cbuf_html(b, cjson_str(x, "timezone"));
                        cbuf_puts(b, "</td><td>catch-up ");
                        cbuf_html(b, cjson_str(x, "catchup"));
                        cbuf_puts(b, ", overlap ");
                        cbuf_html(b, cjson_str(x, "overlap"));
                        if (json_is_true(json_object_get(x, "paused")))
                                cbuf_puts(b, ", paused");
                        cbuf_puts(b, "</td><td>");
                        json_array_foreach(json_object_get(x, "next_fires"), f,
                                           fire) {
                                cbuf_html(b, cjson_str(fire, "local"));
                                cbuf_puts(b, "<br>");
                        }
                        cbuf_puts(b, "</td></tr>");
                }
                if (json_array_size(json_object_get(d, "schedules")))
                        cbuf_puts(b, "</table>");
                cbuf_puts(b, "<h3>Last runs</h3><ul>");
                json_array_foreach(json_object_get(d, "last_runs"), j, r) {
                        cbuf_puts(b, "<li>");
                        run_link(b, cjson_str(r, "run_id"));
                        cbuf_puts(b, " ");
                        state_html(b, cjson_str(r, "state"), NULL);
                        cbuf_puts(b, " ");
                        time_html(b, cjson_int(r, "created_at"));
                        cbuf_puts(b, "</li>");
                }
                cbuf_puts(b, "</ul><p><a href=\"/runs?deployment=");
                cbuf_url(b, k);
                cbuf_puts(b, "\">all runs</a></p></section>");
        }
}

/* -------------------------------------------------------------- DLQ */

static json_t *dlq_json(const cstore_t *s) {
        json_t *arr = json_array();
        size_t i;

        for (i = json_array_size(s->dlq); i-- > 0;)
                json_array_append(arr, json_array_get(s->dlq, i));
        return json_pack("{s:o, s:I}", "rejects", arr, "kept_max",
                         (json_int_t)s->lim.dlq_max);
}

static void dlq_html(cbuf_t *b, const json_t *o) {
        json_t *r;
        size_t i;

        cbuf_puts(b, "<h1>Dead-letter queue</h1><p>Recent rejects, newest "
                     "first.</p><table id=\"dlq\"><tr><th>at</th><th>key</th>"
                     "<th>error</th><th>reason</th><th>source</th>"
                     "<th>worker</th><th>bytes</th></tr>");
        json_array_foreach(json_object_get(o, "rejects"), i, r) {
                cbuf_puts(b, "<tr><td>");
                time_html(b, cjson_int(r, "at"));
                cbuf_puts(b, "</td><td>");
                text_or_dash(b, cjson_str(r, "key"));
                cbuf_puts(b, "</td><td>");
                text_or_dash(b, cjson_str(r, "error"));
                cbuf_puts(b, "</td><td>");
                text_or_dash(b, cjson_str(r, "reason"));
                cbuf_puts(b, "</td><td>");
                text_or_dash(b, cjson_str(r, "source"));
                cbuf_puts(b, "</td><td>");
                text_or_dash(b, cjson_str(r, "worker"));
                cbuf_printf(b, "</td><td>%lld</td></tr>",
                            (long long)cjson_int(r, "size"));
        }
        cbuf_puts(b, "</table>");
}

/* ------------------------------------------------------------ routes */

static void answer_json(cpage_t *page, unsigned status, json_t *o) {
        char *text = o ? json_dumps(o, JSON_COMPACT | JSON_ESCAPE_SLASH)
                       : NULL;

        page->status = status;
        page->ctype = "application/json";
        /* the server free()s the body: a plain copy, so that jansson's
         * byte count (store.c) sees its own text freed */
        page->body = text ? strdup(text) : NULL;
        cstore_json_free(text);
        json_decref(o);
}

static void answer_html(cpage_t *page, unsigned status, cbuf_t *b) {
        page->status = status;
        page->ctype = "text/html; charset=utf-8";
        page->body = cbuf_take(b);
}

static void error_page(const cstore_t *s, const creq_t *req, cpage_t *page,
                       unsigned status, const char *msg, int refresh) {
        cbuf_t b;

        if (req->json) {
                answer_json(page, status, json_pack("{s:s}", "error", msg));
                return;
        }
        cbuf_init(&b, PAGE_MAX);
        head(&b, "error", refresh);
        cbuf_puts(&b, "<h1>Not here</h1><p id=\"error\">");
        cbuf_html(&b, msg);
        cbuf_puts(&b, "</p>");
        foot(&b, s);
        answer_html(page, status, &b);
}

static void route(cstore_t *s, const creq_t *req, cpage_t *page) {
        const char *path = req->path ? req->path : "/";
        char errstr[256];
        cbuf_t b;
        json_t *o;

        cbuf_init(&b, PAGE_MAX);
        if (!strncmp(path, "/runs/", 6) && path[6]) {
                const char *id = path + 6;
                json_t *run = json_object_get(s->runs, id);
                const char *st;

                if (!run) {
                        error_page(s, req, page, 404,
                                   s->restored ? "run not known (yet): it "
                                                 "may appear shortly"
                                               : "run not known yet: still "
                                                 "restoring",
                                   1000);
                        return;
                }
                o = run_json(s, run, 1);
                if (req->json) {
                        answer_json(page, 200, o);
                        return;
                }
                st = run_status(run);
                head(&b, id, crun_state_terminal(st) ? 0 : 1000);
                if (o)
                        run_html(&b, o);
                json_decref(o);
                foot(&b, s);
                answer_html(page, 200, &b);
                return;
        }
        if (!strcmp(path, "/runs") || !strcmp(path, "/runs/") ||
            !strcmp(path, "/")) {
                cfilter_t f;

                if (cfilter_parse(&f, req->query, req->query_ctx,
                                  s->lim.page_size, errstr, sizeof(errstr))) {
                        error_page(s, req, page, 400, errstr, 0);
                        return;
                }
                o = runs_json(s, &f);
                if (req->json) {
                        answer_json(page, 200, o);
                        return;
                }
                head(&b, "runs", 3000);
                if (o)
                        runs_html(&b, o, &f);
                json_decref(o);
                foot(&b, s);
                answer_html(page, 200, &b);
                return;
        }
        if (!strcmp(path, "/deployments")) {
                o = deployments_json(s, req->now_ms);
                if (req->json) {
                        answer_json(page, 200, o);
                        return;
                }
                head(&b, "deployments", 5000);
                if (o)
                        deployments_html(&b, o);
                json_decref(o);
                foot(&b, s);
                answer_html(page, 200, &b);
                return;
        }
        if (!strcmp(path, "/dlq")) {
                o = dlq_json(s);
                if (req->json) {
                        answer_json(page, 200, o);
                        return;
                }
                head(&b, "DLQ", 3000);
                if (o)
                        dlq_html(&b, o);
                json_decref(o);
                foot(&b, s);
                answer_html(page, 200, &b);
                return;
        }
        if (!strcmp(path, "/favicon.ico")) {
                /* browsers ask on every page: nothing, not an error */
                page->status = 204;
                page->ctype = "image/x-icon";
                page->body = strdup("");
                return;
        }
        if (!strcmp(path, "/healthz")) {
                o = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, "
                              "s:I, s:I, s:I}",
                              "status", s->restored ? "ok" : "restoring",
                              "restored", s->restored, "runs",
                              (json_int_t)json_object_size(s->runs),
                              "deployments",
                              (json_int_t)json_object_size(s->deployments),
                              "dlq", (json_int_t)json_array_size(s->dlq),
                              "events", (json_int_t)s->events_total,
                              "records", (json_int_t)s->records,
                              "undecodable", (json_int_t)s->undecodable,
                              "refused", (json_int_t)s->refused, "bytes",
                              (json_int_t)cstore_bytes(), "bytes_max",
                              (json_int_t)s->lim.bytes_max);
                if (req->json) {
                        answer_json(page, s->restored ? 200 : 503, o);
                        return;
                }
                json_decref(o);
                page->status = s->restored ? 200 : 503;
                page->ctype = "text/plain; charset=utf-8";
                page->body = strdup(s->restored ? "ok\n" : "restoring\n");
                return;
        }
        error_page(s, req, page, 404,
                   "no such page: try /runs, /deployments, /dlq", 0);
}

void crender(cstore_t *s, const creq_t *req, cpage_t *page) {
        memset(page, 0, sizeof(*page));
        pthread_mutex_lock(&s->lock);
        route(s, req, page);
        pthread_mutex_unlock(&s->lock);
}
