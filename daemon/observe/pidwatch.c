// SPDX-License-Identifier: GPL-2.0-or-later
#include <assert.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include "pidwatch.h"
#include "util.h"

typedef struct Watched {
	PidWatch *watch;
	pid_t pid;
	uint64_t starttime;
	int fd;
	sd_event_source *source;
} Watched;

struct PidWatch {
	sd_event *event;
	PidWatchExited exited;
	void *userdata;
	Watched **watched;
	size_t n_watched;
};

static Watched *watched_free(Watched *p)
{
	if (!p)
		return NULL;
	sd_event_source_disable_unref(p->source);
	closep(&p->fd);
	free(p);
	return NULL;
}

int pidwatch_new(sd_event *e, PidWatchExited exited, void *userdata, PidWatch **ret)
{
	PidWatch *w;

	assert(e);
	assert(exited);
	assert(ret);
	w = calloc(1, sizeof(PidWatch));
	if (!w)
		return -ENOMEM;
	w->event = sd_event_ref(e);
	w->exited = exited;
	w->userdata = userdata;
	*ret = w;
	return 0;
}

PidWatch *pidwatch_free(PidWatch *w)
{
	if (!w)
		return NULL;
	for (size_t i = 0; i < w->n_watched; i++)
		watched_free(w->watched[i]);
	free(w->watched);
	sd_event_unref(w->event);
	free(w);
	return NULL;
}

static int on_pidfd(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	Watched *p = ASSERT_PTR(userdata);
	PidWatch *w = p->watch;
	pid_t pid = p->pid;
	uint64_t starttime = p->starttime;

	/* Watched once: it goes before the callback, which may not look back at it. */
	pidwatch_remove(w, pid);
	w->exited(pid, starttime, w->userdata);
	return 0;
}

static void watched_freep(Watched **p)
{
	watched_free(*p);
}

int pidwatch_add(PidWatch *w, pid_t pid, uint64_t starttime)
{
	_cleanup_(watched_freep) Watched *p = NULL;
	Watched **n;
	int r;

	assert(w);
	pidwatch_remove(w, pid);
	p = calloc(1, sizeof(Watched));
	if (!p)
		return -ENOMEM;
	*p = (Watched){ .watch = w, .pid = pid, .starttime = starttime, .fd = -1 };
	p->fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p->fd < 0)
		return negative_errno();
	r = sd_event_add_io(w->event, &p->source, p->fd, EPOLLIN, on_pidfd, p);
	if (r < 0)
		return r;
	r = sd_event_source_set_description(p->source, "pidfd");
	if (r < 0)
		return r;
	n = realloc(w->watched, (w->n_watched + 1) * sizeof(Watched *));
	if (!n)
		return -ENOMEM;
	w->watched = n;
	w->watched[w->n_watched++] = TAKE_PTR(p);
	return 0;
}

void pidwatch_remove(PidWatch *w, pid_t pid)
{
	for (size_t i = 0; i < w->n_watched; i++)
		if (w->watched[i]->pid == pid) {
			watched_free(w->watched[i]);
			w->watched[i] = w->watched[--w->n_watched];
			return;
		}
}

size_t pidwatch_count(const PidWatch *w)
{
	return w->n_watched;
}
