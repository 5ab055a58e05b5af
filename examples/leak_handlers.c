/*
 * leak_handlers.c - the "forgotten listener" leak: widgets subscribe a
 * handler with a context object to a global event emitter; most widgets are
 * destroyed without unsubscribing, so the emitter keeps their listeners and
 * contexts alive (and keeps calling them) long after the owner is gone.
 * Nothing is lost in valgrind's sense: it is all still reachable from the
 * global `app_events`, which is exactly why such leaks are hard to spot.
 *
 * Global root: `app_events` (struct emitter): a singly linked list of
 * `n_listeners` listeners starting at `listeners`.
 *
 * After the build step: 40 widgets were created, 10 destroyed correctly
 * (unsubscribed, context freed), 30 destroyed without unsubscribing; 30
 * listeners remain, each holding a context (label string + 256-byte scratch
 * buffer) whose owner no longer exists.
 *
 * --grow: after the build, every 100 ms 50 more widgets are created and
 * destroyed without unsubscribing, so the forgotten listeners (and their
 * contexts) grow in every interval between snapshots: `memprof diff` gives
 * growth findings for `struct listener` and for the owner path of the
 * listener chain, `app_events;listeners;listener;next` (docs/diff.md).
 *
 * valgrind --leak-check=full (no argument; --hold after EOF; and, through
 * vgdb "leak_check full", while blocked in --hold):
 *   definitely lost:       0 bytes in   0 blocks
 *   indirectly lost:       0 bytes in   0 blocks
 *   possibly lost:         0 bytes in   0 blocks
 *   still reachable:  10,320 bytes in 120 blocks  (30 listeners of 32 bytes,
 *                                                  30 contexts of 40 bytes,
 *                                                  30 labels of 16 bytes,
 *                                                  30 scratch buffers of 256 bytes)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "example_common.h"

#define N_WIDGETS 40
#define SCRATCH_SIZE 256

enum event_kind {
    EVENT_RESIZE = 1,
    EVENT_REDRAW = 2,
    EVENT_CLOSE = 3
};

typedef void (*event_handler)(enum event_kind event, void *ctx);

struct listener {
    enum event_kind event;
    event_handler handler;
    void *ctx;
    struct listener *next;
};

struct emitter {
    struct listener *listeners;
    size_t n_listeners;
    uint64_t events_emitted;
    uint64_t handler_calls;
};

/* Per-subscription state the handler needs; owned by nobody once the
 * widget is gone. */
struct widget_context {
    char *label;
    unsigned char *scratch;
    size_t scratch_len;
    uint64_t events_seen;
    unsigned widget_id;
    unsigned flags;
};

struct widget {
    unsigned id;
    char *title;
    struct widget_context *ctx;
    struct listener *subscription;
};

/* The root a debugger or memprof finds by name. */
struct emitter app_events;

static void *xmalloc(size_t size)
{
    void *p = malloc(size);
    if (p == NULL) {
        fprintf(stderr, "leak_handlers: out of memory\n");
        exit(1);
    }
    return p;
}

static char *format_string(const char *fmt, unsigned n)
{
    char buf[64];
    size_t len;
    char *s;

    snprintf(buf, sizeof buf, fmt, n);
    len = strlen(buf) + 1;
    s = xmalloc(len);
    memcpy(s, buf, len);
    return s;
}

static struct listener *emitter_subscribe(struct emitter *em, enum event_kind event,
                                          event_handler handler, void *ctx)
{
    struct listener *l = xmalloc(sizeof *l);

    l->event = event;
    l->handler = handler;
    l->ctx = ctx;
    l->next = em->listeners;
    em->listeners = l;
    em->n_listeners++;
    return l;
}

static void emitter_unsubscribe(struct emitter *em, struct listener *l)
{
    struct listener **link;

    for (link = &em->listeners; *link != NULL; link = &(*link)->next) {
        if (*link == l) {
            *link = l->next;
            em->n_listeners--;
            free(l);
            return;
        }
    }
}

static void emitter_emit(struct emitter *em, enum event_kind event)
{
    struct listener *l;

    em->events_emitted++;
    for (l = em->listeners; l != NULL; l = l->next) {
        if (l->event == event) {
            l->handler(event, l->ctx);
            em->handler_calls++;
        }
    }
}

static void on_resize(enum event_kind event, void *ctx)
{
    struct widget_context *c = ctx;

    c->events_seen++;
    c->scratch[c->events_seen % c->scratch_len] = (unsigned char)event;
}

static struct widget *widget_create(unsigned id)
{
    struct widget *w = xmalloc(sizeof *w);
    struct widget_context *c = xmalloc(sizeof *c);

    w->id = id;
    w->title = format_string("Widget number %u", id);
    c->label = format_string("ctx-of-widget%02u", id);
    c->scratch_len = SCRATCH_SIZE;
    c->scratch = calloc(1, SCRATCH_SIZE);
    if (c->scratch == NULL)
        exit(1);
    c->events_seen = 0;
    c->widget_id = id;
    c->flags = 0x1;
    w->ctx = c;
    w->subscription = emitter_subscribe(&app_events, EVENT_RESIZE, on_resize, c);
    return w;
}

/* Correct teardown: unsubscribe, then free what the widget owns. */
static void widget_destroy(struct widget *w)
{
    emitter_unsubscribe(&app_events, w->subscription);
    free(w->ctx->label);
    free(w->ctx->scratch);
    free(w->ctx);
    free(w->title);
    free(w);
}

/* The buggy teardown this example is about: the listener (and through it
 * the context) stays registered on the global emitter. */
static void widget_destroy_forgetful(struct widget *w)
{
    free(w->title);
    free(w);
}

__attribute__((noinline))
static void build(void)
{
    struct widget *widgets[N_WIDGETS];
    unsigned i;

    for (i = 0; i < N_WIDGETS; i++)
        widgets[i] = widget_create(i);
    for (i = 0; i < 5; i++)
        emitter_emit(&app_events, EVENT_RESIZE);
    for (i = 0; i < N_WIDGETS; i++) {
        if (i % 4 == 0)
            widget_destroy(widgets[i]);
        else
            widget_destroy_forgetful(widgets[i]);
        widgets[i] = NULL;
    }
    /* The orphaned handlers keep running. */
    for (i = 0; i < 3; i++)
        emitter_emit(&app_events, EVENT_RESIZE);
    emitter_emit(&app_events, EVENT_CLOSE);
}

/* One tick of --grow: widgets come and go, their listeners stay. */
static void forget_tick(void)
{
    static unsigned next_id = N_WIDGETS;
    unsigned i;

    for (i = 0; i < 50; i++)
        widget_destroy_forgetful(widget_create(next_id++));
    emitter_emit(&app_events, EVENT_RESIZE);
}

int main(int argc, char **argv)
{
    enum example_mode mode;

    if (example_wants_grow(argc, argv)) {
        build();
        example_tick_until_eof(forget_tick, 100);
        return 0;
    }
    mode = example_parse_mode(argc, argv);
    build();
    example_after_build(mode);
    /* Nothing to free: the widgets are gone, their listeners are the leak. */
    return 0;
}
