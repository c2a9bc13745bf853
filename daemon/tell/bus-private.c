// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "bus-frame.h"
#include "bus-private.h"
#include "event-util.h"
#include "log.h"
#include "util.h"

/* Room for the longest auth line a frame judges, and more. */
#define BUFFER_SIZE 4096
/*
 * The kernel's buffer for what smmud sends a client (sd-bus asks for
 * 8 MiB): its memory counts against smmud's, and a client that reads
 * nothing would have it fill.  Replies beyond it wait in sd-bus's queue,
 * which BUS_PRIVATE_QUEUED_MAX bounds.
 */
#define SEND_BUFFER_SIZE (256 * 1024)
/*
 * The pipe to sd-bus: one page, its least.  sd-bus dispatches every call
 * the pipe holds before pump() runs again and sees how many replies wait,
 * so the pipe's size is how far past BUS_PRIVATE_QUEUED_MAX a client that
 * reads nothing gets: the default 64 KiB holds some 700 calls.
 */
#define PIPE_BUFFER_SIZE 4096
/* Refusals are logged once in this while, with a count of the others. */
#define REFUSAL_LOG_USEC (10 * USEC_PER_SEC)
/* What one kick may dispatch of what sd-bus read along with the auth exchange. */
#define KICK_MAX 1024

_Static_assert(BUFFER_SIZE > BUS_FRAME_LINE_MAX + 2, "a judged line fits the buffer");

typedef struct PrivateConnection {
	BusPrivate *owner;
	sd_bus *bus;
	uid_t uid;
	gid_t gid;
	uint64_t accepted_usec;         /* CLOCK_MONOTONIC */
	bool running;                   /* past the auth exchange, and kicked once */
	int client_fd;                  /* the client's socket, read here (sd-bus writes to a dup) */
	int pipe_fd;                    /* the write end of sd-bus's input; -1 once closed */
	sd_event_source *client_source; /* client_fd readable */
	sd_event_source *pipe_source;   /* pipe_fd writable, while judged bytes wait for room */
	BusFrame frame;
	uint8_t buf[BUFFER_SIZE];       /* read from the client, not passed yet */
	size_t len;
	size_t judged;                  /* the first bytes of buf, which may pass */
} PrivateConnection;

struct BusPrivate {
	sd_event *event;
	sd_event_source *listen_source;
	sd_event_source *idle_timer;    /* when the first connection without a message is closed */
	sd_event_source *kick;          /* post: connections whose auth exchange may have ended */
	int listen_fd;
	char *path;
	BusPrivateSetup setup;
	void *userdata;
	PrivateConnection *connections[BUS_PRIVATE_CONNECTIONS_MAX];
	size_t n_connections;
	uint64_t next_id;
	uint64_t refusal_logged_usec;
	unsigned refusals_unlogged;
};

/* One refusal; a flood of them (one client connecting in a loop) is one line every 10 s. */
_printf_(2, 3) static void refused(BusPrivate *p, const char *fmt, ...)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	_cleanup_free_ char *what = NULL;
	va_list ap;
	int r;

	if (p->refusal_logged_usec && now - p->refusal_logged_usec < REFUSAL_LOG_USEC) {
		p->refusals_unlogged++;
		return;
	}
	va_start(ap, fmt);
	r = vasprintf(&what, fmt, ap);
	va_end(ap);
	if (r < 0)
		what = NULL;
	if (p->refusals_unlogged > 0)
		log_warning("%s (and %u other refusals since the last one logged).",
			    what ?: "Private connection refused", p->refusals_unlogged);
	else
		log_warning("%s.", what ?: "Private connection refused");
	p->refusal_logged_usec = now;
	p->refusals_unlogged = 0;
}

static PrivateConnection *connection_free(PrivateConnection *c)
{
	if (!c)
		return NULL;
	sd_event_source_disable_unref(c->client_source);
	sd_event_source_disable_unref(c->pipe_source);
	if (c->client_fd >= 0)
		close(c->client_fd);
	if (c->pipe_fd >= 0)
		close(c->pipe_fd);
	/* No flush: a peer that reads nothing would block the loop. */
	sd_bus_close_unref(c->bus);
	free(c);
	return NULL;
}

static void connection_freep(PrivateConnection **c)
{
	connection_free(*c);
}

static ssize_t connection_index(const BusPrivate *p, const sd_bus *bus)
{
	for (size_t i = 0; i < p->n_connections; i++)
		if (p->connections[i]->bus == bus)
			return (ssize_t)i;
	return -1;
}

static void schedule(BusPrivate *p);

static void connection_drop(BusPrivate *p, size_t i)
{
	connection_free(p->connections[i]);
	p->connections[i] = p->connections[--p->n_connections];
	schedule(p);
}

static void drop_bus(BusPrivate *p, sd_bus *bus)
{
	ssize_t i = connection_index(p, bus);

	if (i >= 0)
		connection_drop(p, (size_t)i);
}

/* The timers follow the connections: the first idle one's end, and the kick while any authenticates. */
static void schedule(BusPrivate *p)
{
	uint64_t next = USEC_INFINITY;
	bool authenticating = false;

	for (size_t i = 0; i < p->n_connections; i++) {
		const PrivateConnection *c = p->connections[i];

		if (c->frame.n_messages == 0 && c->accepted_usec + BUS_PRIVATE_IDLE_USEC < next)
			next = c->accepted_usec + BUS_PRIVATE_IDLE_USEC;
		authenticating = authenticating || !c->running;
	}
	if (event_timer_arm(p->idle_timer, next, SD_EVENT_ONESHOT) < 0 ||
	    sd_event_source_set_enabled(p->kick, authenticating ? SD_EVENT_ON : SD_EVENT_OFF) < 0)
		log_warning("Cannot schedule the private connections' timers.");
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	BusPrivate *p = ASSERT_PTR(userdata);

	log_debug("Private connection closed.");
	drop_bus(p, sd_bus_message_get_bus(m));
	return 0;
}

/* Replies and signals the peer has not read: past the bound, it is dropped. */
static bool stuck(const PrivateConnection *c)
{
	uint64_t n = 0;

	return sd_bus_get_n_queued_write(c->bus, &n) >= 0 && n > BUS_PRIVATE_QUEUED_MAX;
}

/* Waits for the client's bytes (client) or for room in the pipe (!client). */
static int wait_for(PrivateConnection *c, bool client)
{
	int r = sd_event_source_set_enabled(c->client_source, client ? SD_EVENT_ON : SD_EVENT_OFF);

	if (r >= 0)
		r = sd_event_source_set_enabled(c->pipe_source, client ? SD_EVENT_OFF : SD_EVENT_ON);
	return r;
}

/*
 * Passes the client's bytes to sd-bus as far as the frame judges them,
 * until one side has to wait.  At the client's end, sd-bus gets its end
 * too (and with it, its Disconnected).  -errno: drop the connection.
 */
static int pump(PrivateConnection *c)
{
	bool idle = c->frame.n_messages == 0;
	ssize_t n;

	if (stuck(c))
		return -ENOBUFS;
	for (;;) {
		if (c->judged > 0) {
			n = write(c->pipe_fd, c->buf, c->judged);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return wait_for(c, false);
			if (n < 0)
				return negative_errno();
			memmove(c->buf, c->buf + n, c->len - (size_t)n);
			c->len -= (size_t)n;
			c->judged -= (size_t)n;
			continue;
		}
		n = bus_frame_scan(&c->frame, c->buf, c->len);
		if (n < 0)
			return (int)n;
		if (idle && c->frame.n_messages > 0) {
			idle = false;
			schedule(c->owner);
		}
		if (n > 0) {
			c->judged = (size_t)n;
			continue;
		}
		if (c->len == sizeof(c->buf))
			return -EBADMSG;
		n = read(c->client_fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return wait_for(c, true);
		if (n <= 0) {
			/* The client is gone (what is left is no whole line or message). */
			close(c->pipe_fd);
			c->pipe_fd = -1;
			(void)sd_event_source_set_enabled(c->client_source, SD_EVENT_OFF);
			(void)sd_event_source_set_enabled(c->pipe_source, SD_EVENT_OFF);
			return 0;
		}
		c->len += (size_t)n;
	}
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	PrivateConnection *c = ASSERT_PTR(userdata);
	int r = pump(c);

	if (r == -EMSGSIZE)
		refused(c->owner, "A message of UID %u is larger than %d bytes, closing its connection",
			(unsigned)c->uid, BUS_PRIVATE_MESSAGE_MAX);
	else if (r == -ENOBUFS)
		refused(c->owner, "UID %u reads no replies (%d queued), closing its connection",
			(unsigned)c->uid, BUS_PRIVATE_QUEUED_MAX);
	else if (r < 0)
		log_debug_errno(r, "Private connection of UID %u: %m; closing it.", (unsigned)c->uid);
	if (r < 0)
		drop_bus(c->owner, c->bus);
	return 0;
}

/*
 * sd-bus reads the auth exchange in chunks: a client that sends BEGIN and
 * its first call in one write (libdbus does) has the call read along with
 * BEGIN, where nothing will make the pipe readable again for it.  Once
 * sd-bus is past the exchange, what it holds is dispatched here.
 */
static int on_kick(sd_event_source *s, void *userdata)
{
	BusPrivate *p = ASSERT_PTR(userdata);
	sd_bus *ready[BUS_PRIVATE_CONNECTIONS_MAX];
	size_t n = 0;

	for (size_t i = 0; i < p->n_connections; i++) {
		PrivateConnection *c = p->connections[i];

		if (c->running || sd_bus_is_ready(c->bus) <= 0)
			continue;
		c->running = true;
		ready[n++] = sd_bus_ref(c->bus);
	}
	/* Each by its bus: a call may drop connections, and move them in the list. */
	for (size_t i = 0; i < n; i++) {
		int r = 0;

		for (unsigned k = 0; k < KICK_MAX && connection_index(p, ready[i]) >= 0; k++) {
			r = sd_bus_process(ready[i], NULL);
			if (r <= 0)
				break;
		}
		if (r < 0)
			drop_bus(p, ready[i]);
		sd_bus_unref(ready[i]);
	}
	schedule(p);
	return 0;
}

static int on_idle_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	BusPrivate *p = ASSERT_PTR(userdata);

	for (size_t i = p->n_connections; i > 0; i--) {
		PrivateConnection *c = p->connections[i - 1];

		if (c->frame.n_messages > 0 || c->accepted_usec + BUS_PRIVATE_IDLE_USEC > usec)
			continue;
		log_debug("Private connection of UID %u sent nothing for %llu s, closing it.",
			  (unsigned)c->uid, BUS_PRIVATE_IDLE_USEC / USEC_PER_SEC);
		connection_drop(p, i - 1);
	}
	schedule(p);
	return 0;
}

/*
 * The connection's bus: it reads the pipe (*input_fd, its read end, taken
 * once the bus has it) that pump() fills, and writes to the socket itself.
 */
static int connection_bus(BusPrivate *p, PrivateConnection *c, int *input_fd,
			  const struct ucred *cred)
{
	_cleanup_close_ int output_fd = fcntl(c->client_fd, F_DUPFD_CLOEXEC, 3);
	sd_id128_t id;
	int r;

	if (output_fd < 0)
		return negative_errno();
	r = sd_bus_new(&c->bus);
	if (r < 0)
		return r;
	r = sd_bus_set_fd(c->bus, *input_fd, output_fd);
	if (r < 0)
		return r;
	TAKE_FD(*input_fd);
	TAKE_FD(output_fd);
	/* Any server id will do: only this connection sees it. */
	id = (sd_id128_t){ .qwords = { p->next_id, (uint64_t)cred->pid } };
	r = sd_bus_set_server(c->bus, 1, id);
	if (r >= 0)
		/* The credentials that count are the socket's (bus_private_peer()), not a claim. */
		r = sd_bus_set_anonymous(c->bus, true);
	if (r >= 0)
		r = sd_bus_set_sender(c->bus, "org.smmud1");
	if (r >= 0)
		r = sd_bus_set_description(c->bus, "private-connection");
	if (r >= 0)
		r = sd_bus_match_signal(c->bus, NULL, NULL, "/org/freedesktop/DBus/Local",
					"org.freedesktop.DBus.Local", "Disconnected", on_disconnected,
					p);
	if (r >= 0)
		r = p->setup(c->bus, p->userdata);
	if (r >= 0)
		r = sd_bus_start(c->bus);
	if (r >= 0)
		r = sd_bus_attach_event(c->bus, p->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0)
		return r;
	/* After sd_bus_start(), which raised it. */
	if (setsockopt(c->client_fd, SOL_SOCKET, SO_SNDBUF, &(int){ SEND_BUFFER_SIZE },
		       sizeof(int)) < 0)
		log_debug_errno(negative_errno(), "Cannot set a private connection's send buffer: %m");
	return 0;
}

static int connection_new(BusPrivate *p, int fd, const struct ucred *cred, PrivateConnection **ret)
{
	_cleanup_(connection_freep) PrivateConnection *c = calloc(1, sizeof(PrivateConnection));
	_cleanup_close_ int input_fd = -1;
	int pipe_fds[2], r;

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	*c = (PrivateConnection){
		.owner = p,
		.uid = cred->uid,
		.gid = cred->gid,
		.accepted_usec = now_usec(CLOCK_MONOTONIC),
		.client_fd = fd,
		.pipe_fd = -1,
		.frame = { .max_message = BUS_PRIVATE_MESSAGE_MAX },
	};
	if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return negative_errno();
	input_fd = pipe_fds[0];
	c->pipe_fd = pipe_fds[1];
	if (fcntl(c->pipe_fd, F_SETPIPE_SZ, PIPE_BUFFER_SIZE) < 0)
		log_debug_errno(negative_errno(), "Cannot shrink a private connection's pipe: %m");
	r = connection_bus(p, c, &input_fd, cred);
	if (r < 0)
		return r;
	r = sd_event_add_io(p->event, &c->client_source, c->client_fd, EPOLLIN, on_client_io, c);
	if (r >= 0)
		r = sd_event_source_set_description(c->client_source, "private-client");
	if (r >= 0)
		r = sd_event_add_io(p->event, &c->pipe_source, c->pipe_fd, EPOLLOUT, on_client_io, c);
	if (r >= 0)
		r = event_source_setup(c->pipe_source, SD_EVENT_PRIORITY_NORMAL, "private-pipe");
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

/* Whether a connection of uid fits the limits (bus-private.h); a refusal is logged. */
static bool admissible(BusPrivate *p, uid_t uid)
{
	size_t same = 0, unprivileged = 0;

	for (size_t i = 0; i < p->n_connections; i++)
		if (p->connections[i]->uid != 0) {
			unprivileged++;
			same += p->connections[i]->uid == uid;
		}
	if (p->n_connections >= BUS_PRIVATE_CONNECTIONS_MAX)
		refused(p, "Too many private connections (%d), refusing one of UID %u",
			BUS_PRIVATE_CONNECTIONS_MAX, (unsigned)uid);
	else if (uid != 0 && unprivileged >= BUS_PRIVATE_UNPRIVILEGED_MAX)
		refused(p, "Users other than root hold %d private connections, refusing one of UID %u",
			BUS_PRIVATE_UNPRIVILEGED_MAX, (unsigned)uid);
	else if (uid != 0 && same >= BUS_PRIVATE_PER_USER_MAX)
		refused(p, "UID %u holds %d private connections, refusing another",
			(unsigned)uid, BUS_PRIVATE_PER_USER_MAX);
	else
		return true;
	return false;
}

static int on_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	BusPrivate *p = userdata;
	_cleanup_close_ int nfd = -1;
	PrivateConnection *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int r;

	nfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (nfd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return 0;
		log_warning_errno(negative_errno(), "Failed to accept a private connection: %m");
		return 0;
	}
	if (getsockopt(nfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warning_errno(negative_errno(), "Failed to get a private peer's credentials: %m");
		return 0;
	}
	if (!admissible(p, cred.uid))
		return 0;
	p->next_id++;
	r = connection_new(p, TAKE_FD(nfd), &cred, &c);
	if (r < 0)
		return log_warning_errno(r, "Failed to set up a private connection: %m"), 0;
	p->connections[p->n_connections++] = c;
	schedule(p);
	log_debug("Private connection from PID %d (UID %u).", (int)cred.pid, (unsigned)cred.uid);
	return 0;
}

int bus_private_new(sd_event *event, const char *path, BusPrivateSetup setup, void *userdata,
		    BusPrivate **ret)
{
	_cleanup_(bus_private_freep) BusPrivate *p = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return log_error_errno(SYNTHETIC_ERRNO(ENAMETOOLONG), "Socket path too long: %s",
				       path);
	memcpy(sa.sun_path, path, strlen(path));

	p = calloc(1, sizeof(*p));
	if (!p)
		return log_oom();
	p->listen_fd = -1;
	p->event = sd_event_ref(event);
	p->setup = setup;
	p->userdata = userdata;
	p->path = strdup(path);
	if (!p->path)
		return log_oom();
	r = sd_event_add_time(event, &p->idle_timer, CLOCK_MONOTONIC, USEC_INFINITY, USEC_PER_SEC,
			      on_idle_timer, p);
	if (r >= 0)
		r = event_source_setup(p->idle_timer, SD_EVENT_PRIORITY_IDLE, "private-idle");
	if (r >= 0)
		r = sd_event_add_post(event, &p->kick, on_kick, p);
	if (r >= 0)
		r = event_source_setup(p->kick, SD_EVENT_PRIORITY_NORMAL, "private-kick");
	if (r < 0)
		return log_error_errno(r, "Failed to set up the private connections' timers: %m");

	/* Replace a socket left by a crashed run, never anything else. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return log_error_errno(SYNTHETIC_ERRNO(EEXIST),
					       "%s exists and is not a socket, refusing", path);
		if (unlink(path) < 0)
			return log_error_errno(negative_errno(), "Failed to remove stale %s: %m", path);
	}

	p->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (p->listen_fd < 0)
		return log_error_errno(negative_errno(), "Failed to create the private socket: %m");
	if (bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return log_error_errno(negative_errno(), "Failed to bind %s: %m", path);
	if (chmod(path, 0666) < 0)
		return log_error_errno(negative_errno(), "Failed to set the mode of %s: %m", path);
	if (listen(p->listen_fd, SOMAXCONN) < 0)
		return log_error_errno(negative_errno(), "Failed to listen on %s: %m", path);
	r = sd_event_add_io(event, &p->listen_source, p->listen_fd, EPOLLIN, on_connection, p);
	if (r >= 0)
		r = sd_event_source_set_description(p->listen_source, "private-bus-listen");
	if (r < 0)
		return log_error_errno(r, "Failed to watch %s: %m", path);

	*ret = TAKE_PTR(p);
	return 0;
}

BusPrivate *bus_private_free(BusPrivate *p)
{
	if (!p)
		return NULL;
	while (p->n_connections > 0)
		connection_free(p->connections[--p->n_connections]);
	sd_event_source_disable_unref(p->listen_source);
	sd_event_source_disable_unref(p->idle_timer);
	sd_event_source_disable_unref(p->kick);
	if (p->listen_fd >= 0) {
		close(p->listen_fd);
		(void)unlink(p->path);
	}
	sd_event_unref(p->event);
	free(p->path);
	free(p);
	return NULL;
}

void bus_private_foreach(BusPrivate *p, BusPrivateVisit visit, void *userdata)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_connections; i++)
		visit(p->connections[i]->bus, p->connections[i]->uid, p->connections[i]->gid,
		      userdata);
	/* A peer that reads none of what it is sent would have it pile up here. */
	for (size_t i = p->n_connections; i > 0; i--)
		if (stuck(p->connections[i - 1])) {
			refused(p, "UID %u reads no signals (%d queued), closing its connection",
				(unsigned)p->connections[i - 1]->uid, BUS_PRIVATE_QUEUED_MAX);
			connection_drop(p, i - 1);
		}
}

size_t bus_private_n_connections(const BusPrivate *p)
{
	return p ? p->n_connections : 0;
}

bool bus_private_peer(const BusPrivate *p, sd_bus *bus, uid_t *ret_uid, gid_t *ret_gid)
{
	ssize_t i = p ? connection_index(p, bus) : -1;

	if (i < 0)
		return false;
	*ret_uid = p->connections[i]->uid;
	*ret_gid = p->connections[i]->gid;
	return true;
}
