/*
 * libpri_peer: Debian's libpri on one SOCK_SEQPACKET D-channel, playing a scenario and
 * printing one JSON line per libpri event, so callbox's ISDN tests can check what the
 * reference stack saw. Built by tests/isdn/conftest.py with `gcc ... -lpri`.
 *
 * Transport: one LAPD frame per packet without FCS; libpri's I/O expects the DAHDI convention
 * (reads return frame + 2 FCS octets, writes carry 2 dummy octets), so the callbacks append
 * two octets on receive and strip two on transmit.
 *
 * usage: libpri_peer --fd N --role cpe|network --switch ni2|dms100|5ess|euroisdn
 *        [--place-call CALLED CALLING] [--channel N] [--calls N] [--answer]
 *        [--answer-after MS] [--hangup-after MS] [--reject CAUSE] [--restart CH]
 *        [--overlap-digits DIGITS] [--serve] [--timeout S] [--timer NAME=MS]... [--debug]
 * exit 0: scenario completed; 1: failed or link closed early; 2: timeout or usage error.
 */
#include <errno.h>
#include <libpri.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_CALLS 64
#define CHAN(c) ((c) & 0xff) /* channel number without span/explicit flags */

struct callrec {
	q931_call *call;
	int id;
	int ours;
	int channel;
	int connected;
	int done;
	double answer_at;
	double hangup_at;
};

static int sock_fd = -1;
static int link_closed;
static double t0;
static struct callrec calls[MAX_CALLS];
static int next_id = 1;

static double now_s(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static void json_str(const char *key, const char *val)
{
	printf(", \"%s\": \"", key);
	for (const char *p = val; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void begin(const char *event)
{
	printf("{\"t\": %.4f, \"event\": \"%s\"", now_s() - t0, event);
}

static void end(void)
{
	printf("}\n");
	fflush(stdout);
}

static void emit_result(int ok, const char *reason)
{
	begin("result");
	printf(", \"ok\": %s", ok ? "true" : "false");
	if (reason)
		json_str("reason", reason);
	end();
}

static int io_read(struct pri *pri, void *buf, int buflen)
{
	(void)pri;
	ssize_t n = recv(sock_fd, buf, buflen - 2, 0);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			link_closed = 1;
		return -1;
	}
	memset((char *)buf + n, 0, 2); /* the FCS octets the DAHDI convention carries */
	return (int)n + 2;
}

static int io_write(struct pri *pri, void *buf, int buflen)
{
	(void)pri;
	if (buflen < 2)
		return -1;
	ssize_t n = send(sock_fd, buf, buflen - 2, MSG_NOSIGNAL);
	if (n < 0) {
		link_closed = 1;
		return -1;
	}
	return buflen;
}

static void on_message(struct pri *pri, char *s)
{
	(void)pri;
	fprintf(stderr, "libpri: %s", s);
}

static struct callrec *rec_for(q931_call *c)
{
	for (int i = 0; i < MAX_CALLS; i++)
		if (calls[i].call == c && !calls[i].done)
			return &calls[i];
	return NULL;
}

static struct callrec *rec_new(q931_call *c, int ours, int channel)
{
	for (int i = 0; i < MAX_CALLS; i++) {
		if (!calls[i].call || calls[i].done) {
			memset(&calls[i], 0, sizeof(calls[i]));
			calls[i].call = c;
			calls[i].id = next_id++;
			calls[i].ours = ours;
			calls[i].channel = channel;
			return &calls[i];
		}
	}
	return NULL;
}

/* scenario */
static int role = PRI_CPE, switchtype = PRI_SWITCH_NI2, layer1 = PRI_LAYER_1_ULAW;
static const char *called, *calling, *overlap_digits;
static int place_channel = 1, ncalls = 1, answer, answer_after, hangup_after = -1;
static int reject_cause = -1, restart_channel = -1, serve, debug;
static double timeout_s = 30;
static int placed, placed_done, incoming_done, restart_done, link_up_seen;
static char failure[512];

static void place_call(struct pri *pri)
{
	q931_call *c = pri_new_call(pri);
	struct pri_sr *sr = pri_sr_new();
	pri_sr_set_channel(sr, place_channel, 1, 0);
	pri_sr_set_bearer(sr, PRI_TRANS_CAP_SPEECH, layer1);
	pri_sr_set_called(sr, (char *)called, PRI_UNKNOWN, overlap_digits ? 0 : 1);
	pri_sr_set_caller(sr, (char *)calling, NULL, PRI_UNKNOWN, PRES_ALLOWED_USER_NUMBER_NOT_SCREENED);
	int res = pri_setup(pri, c, sr);
	pri_sr_free(sr);
	struct callrec *r = rec_new(c, 1, place_channel);
	placed++;
	begin("placed");
	printf(", \"call\": %d, \"channel\": %d, \"res\": %d", r ? r->id : -1, place_channel, res);
	json_str("called", called);
	json_str("calling", calling);
	end();
	if (r && hangup_after >= 0)
		r->hangup_at = now_s() + hangup_after / 1000.0;
}

static void call_done(struct pri *pri, struct callrec *r, int cause)
{
	(void)pri;
	if (!r || r->done)
		return;
	r->done = 1;
	if (r->ours) {
		placed_done++;
		if (placed < ncalls && !link_closed)
			place_call(pri);
	} else {
		incoming_done++;
		if (answer && !r->connected && !failure[0])
			snprintf(failure, sizeof(failure), "incoming call %d cleared before answer: cause %d", r->id, cause);
	}
}

static int complete(void)
{
	if (serve)
		return 0;
	int ok = 1;
	if (called)
		ok &= placed_done >= ncalls;
	if (restart_channel >= 0)
		ok &= restart_done;
	if ((answer || reject_cause >= 0) && !called)
		ok &= incoming_done >= 1;
	return ok;
}

static void handle(struct pri *pri, pri_event *e)
{
	struct callrec *r;
	switch (e->e) {
	case PRI_EVENT_DCHAN_UP:
		begin("dchan_up");
		end();
		if (!link_up_seen) {
			link_up_seen = 1;
			if (called && placed == 0)
				place_call(pri);
			if (restart_channel >= 0)
				pri_reset(pri, restart_channel);
		}
		break;
	case PRI_EVENT_DCHAN_DOWN:
		begin("dchan_down");
		end();
		break;
	case PRI_EVENT_CONFIG_ERR:
		begin("config_err");
		json_str("err", e->err.err);
		end();
		break;
	case PRI_EVENT_RING:
		r = rec_new(e->ring.call, 0, e->ring.channel);
		begin("ring");
		printf(", \"call\": %d, \"channel\": %d, \"callingpres\": %d, \"complete\": %d, \"layer1\": %d",
		       r ? r->id : -1, CHAN(e->ring.channel), e->ring.callingpres,
		       e->ring.complete, e->ring.layer1);
		json_str("called", e->ring.callednum);
		json_str("calling", e->ring.callingnum);
		end();
		if (reject_cause >= 0) {
			/* libpri 1.6 sends nothing when told to hang up a call still in the Call
			 * Present state, so reject the way Asterisk does: CALL PROCEEDING, then
			 * DISCONNECT with the cause. */
			pri_proceeding(pri, e->ring.call, e->ring.channel, 0);
			pri_hangup(pri, e->ring.call, reject_cause);
		} else {
			pri_proceeding(pri, e->ring.call, e->ring.channel, 0);
			pri_acknowledge(pri, e->ring.call, e->ring.channel, 0);
			if (answer && r)
				r->answer_at = now_s() + answer_after / 1000.0;
		}
		break;
	case PRI_EVENT_PROCEEDING:
		r = rec_for(e->proceeding.call);
		begin("proceeding");
		printf(", \"call\": %d, \"channel\": %d", r ? r->id : -1, CHAN(e->proceeding.channel));
		end();
		break;
	case PRI_EVENT_SETUP_ACK:
		r = rec_for(e->setup_ack.call);
		begin("setup_ack");
		printf(", \"call\": %d, \"channel\": %d", r ? r->id : -1, CHAN(e->setup_ack.channel));
		end();
		/* overlap sending: the rest of the number, one INFORMATION per digit */
		for (const char *d = overlap_digits; d && *d; d++)
			pri_information(pri, e->setup_ack.call, *d);
		break;
	case PRI_EVENT_PROGRESS:
		r = rec_for(e->proceeding.call);
		begin("progress");
		printf(", \"call\": %d", r ? r->id : -1);
		end();
		break;
	case PRI_EVENT_RINGING:
		r = rec_for(e->ringing.call);
		begin("ringing");
		printf(", \"call\": %d, \"channel\": %d", r ? r->id : -1, CHAN(e->ringing.channel));
		end();
		break;
	case PRI_EVENT_ANSWER:
		r = rec_for(e->answer.call);
		begin("answer");
		printf(", \"call\": %d, \"channel\": %d", r ? r->id : -1, CHAN(e->answer.channel));
		end();
		if (r) {
			r->connected = 1;
			if (hangup_after >= 0)
				r->hangup_at = now_s() + hangup_after / 1000.0;
		}
		break;
	case PRI_EVENT_CONNECT_ACK:
		r = rec_for(e->connect_ack.call);
		begin("connect_ack");
		printf(", \"call\": %d", r ? r->id : -1);
		end();
		break;
	case PRI_EVENT_HANGUP_REQ:
		r = rec_for(e->hangup.call);
		begin("hangup_req");
		printf(", \"call\": %d, \"cause\": %d", r ? r->id : -1, e->hangup.cause);
		end();
		pri_hangup(pri, e->hangup.call, e->hangup.cause);
		break;
	case PRI_EVENT_HANGUP:
		r = rec_for(e->hangup.call);
		begin("hangup");
		printf(", \"call\": %d, \"cause\": %d", r ? r->id : -1, e->hangup.cause);
		end();
		pri_hangup(pri, e->hangup.call, e->hangup.cause);
		call_done(pri, r, e->hangup.cause);
		break;
	case PRI_EVENT_HANGUP_ACK:
		r = rec_for(e->hangup.call);
		begin("hangup_ack");
		printf(", \"call\": %d, \"cause\": %d", r ? r->id : -1, e->hangup.cause);
		end();
		call_done(pri, r, e->hangup.cause);
		break;
	case PRI_EVENT_RESTART:
		begin("restart");
		printf(", \"channel\": %d", e->restart.channel == -1 ? -1 : CHAN(e->restart.channel));
		end();
		break;
	case PRI_EVENT_RESTART_ACK:
		begin("restart_ack");
		printf(", \"channel\": %d", CHAN(e->restartack.channel));
		end();
		if (CHAN(e->restartack.channel) == restart_channel)
			restart_done = 1;
		break;
	default:
		begin("other");
		printf(", \"id\": %d", e->e);
		json_str("name", pri_event2str(e->e));
		end();
	}
}

static void run_timers(struct pri *pri)
{
	double n = now_s();
	for (int i = 0; i < MAX_CALLS; i++) {
		struct callrec *r = &calls[i];
		if (!r->call || r->done)
			continue;
		if (r->answer_at > 0 && n >= r->answer_at) {
			r->answer_at = 0;
			pri_answer(pri, r->call, r->channel, 0);
			r->connected = 1;
			begin("answered");
			printf(", \"call\": %d", r->id);
			end();
			if (hangup_after >= 0)
				r->hangup_at = n + hangup_after / 1000.0;
		}
		if (r->hangup_at > 0 && n >= r->hangup_at) {
			r->hangup_at = 0;
			begin("hanging_up");
			printf(", \"call\": %d, \"connected\": %d", r->id, r->connected);
			end();
			pri_hangup(pri, r->call, PRI_CAUSE_NORMAL_CLEARING);
		}
	}
}

static double next_timer(void)
{
	double best = 0;
	for (int i = 0; i < MAX_CALLS; i++) {
		struct callrec *r = &calls[i];
		if (!r->call || r->done)
			continue;
		if (r->answer_at > 0 && (!best || r->answer_at < best))
			best = r->answer_at;
		if (r->hangup_at > 0 && (!best || r->hangup_at < best))
			best = r->hangup_at;
	}
	return best;
}

static int usage(const char *why)
{
	fprintf(stderr, "libpri_peer: %s\n", why);
	return 2;
}

int main(int argc, char **argv)
{
	const char *timers[32];
	int ntimers = 0;
	t0 = now_s();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED(n) if (i + (n) >= argc) return usage(a)
		if (!strcmp(a, "--fd")) { NEED(1); sock_fd = atoi(v); i++; }
		else if (!strcmp(a, "--role")) {
			NEED(1);
			role = !strcmp(v, "network") ? PRI_NETWORK : PRI_CPE;
			i++;
		} else if (!strcmp(a, "--switch")) {
			NEED(1);
			if (!strcmp(v, "ni2")) switchtype = PRI_SWITCH_NI2;
			else if (!strcmp(v, "dms100")) switchtype = PRI_SWITCH_DMS100;
			else if (!strcmp(v, "5ess")) switchtype = PRI_SWITCH_LUCENT5E;
			else if (!strcmp(v, "euroisdn")) { switchtype = PRI_SWITCH_EUROISDN_E1; layer1 = PRI_LAYER_1_ALAW; }
			else return usage("unknown switch");
			i++;
		} else if (!strcmp(a, "--place-call")) { NEED(2); called = argv[i + 1]; calling = argv[i + 2]; i += 2; }
		else if (!strcmp(a, "--overlap-digits")) { NEED(1); overlap_digits = v; i++; }
		else if (!strcmp(a, "--channel")) { NEED(1); place_channel = atoi(v); i++; }
		else if (!strcmp(a, "--calls")) { NEED(1); ncalls = atoi(v); i++; }
		else if (!strcmp(a, "--answer")) answer = 1;
		else if (!strcmp(a, "--answer-after")) { NEED(1); answer_after = atoi(v); i++; }
		else if (!strcmp(a, "--hangup-after")) { NEED(1); hangup_after = atoi(v); i++; }
		else if (!strcmp(a, "--reject")) { NEED(1); reject_cause = atoi(v); i++; }
		else if (!strcmp(a, "--restart")) { NEED(1); restart_channel = atoi(v); i++; }
		else if (!strcmp(a, "--serve")) serve = 1;
		else if (!strcmp(a, "--debug")) debug = 1;
		else if (!strcmp(a, "--timeout")) { NEED(1); timeout_s = atof(v); i++; }
		else if (!strcmp(a, "--timer")) { NEED(1); if (ntimers < 32) timers[ntimers++] = v; i++; }
		else return usage(a);
	}
	if (sock_fd < 0)
		return usage("--fd is required");

	pri_set_message(on_message);
	pri_set_error(on_message);
	struct pri *pri = pri_new_cb(sock_fd, role, switchtype, io_read, io_write, NULL);
	if (!pri)
		return usage("pri_new_cb failed");
	if (debug)
		pri_set_debug(pri, PRI_DEBUG_Q931_DUMP | PRI_DEBUG_Q931_STATE | PRI_DEBUG_Q921_STATE | PRI_DEBUG_Q921_DUMP | PRI_DEBUG_Q921_RAW);
	for (int k = 0; k < ntimers; k++) {
		char name[32];
		const char *eq = strchr(timers[k], '=');
		if (!eq || eq - timers[k] >= (int)sizeof(name))
			return usage("--timer NAME=MS");
		memcpy(name, timers[k], eq - timers[k]);
		name[eq - timers[k]] = 0;
		int idx = pri_timer2idx(name);
		if (idx < 0 || pri_set_timer(pri, idx, atoi(eq + 1)) < 0)
			return usage("unknown libpri timer");
	}
	begin("started");
	json_str("role", role == PRI_NETWORK ? "network" : "cpe");
	json_str("switch", pri_switch2str(switchtype));
	end();

	double deadline = t0 + timeout_s;
	double linger = 0;
	for (;;) {
		double n = now_s();
		if (link_closed)
			break;
		if (complete() || failure[0]) {
			if (!linger)
				linger = n + 0.3;
			else if (n >= linger)
				break;
		}
		if (n >= deadline) {
			emit_result(0, "timeout");
			return 2;
		}
		double wake = deadline;
		struct timeval *tv = pri_schedule_next(pri);
		if (tv) {
			double t = tv->tv_sec + tv->tv_usec / 1e6;
			if (t < wake)
				wake = t;
		}
		double nt = next_timer();
		if (nt && nt < wake)
			wake = nt;
		if (linger && linger < wake)
			wake = linger;
		double wait = wake - n;
		if (wait < 0)
			wait = 0;
		struct timeval to = {(time_t)wait, (suseconds_t)((wait - (time_t)wait) * 1e6)};
		fd_set rfds;
		FD_ZERO(&rfds);
		FD_SET(sock_fd, &rfds);
		int res = select(sock_fd + 1, &rfds, NULL, NULL, &to);
		pri_event *e = NULL;
		if (res > 0 && FD_ISSET(sock_fd, &rfds))
			e = pri_check_event(pri);
		else if (res == 0)
			e = pri_schedule_run(pri);
		if (e)
			handle(pri, e);
		/* timers due while frames kept arriving */
		while ((tv = pri_schedule_next(pri)) && tv->tv_sec + tv->tv_usec / 1e6 <= now_s()) {
			e = pri_schedule_run(pri);
			if (e)
				handle(pri, e);
			else
				break;
		}
		run_timers(pri);
	}
	if (failure[0]) {
		emit_result(0, failure);
		return 1;
	}
	if (complete() || (serve && link_closed)) {
		emit_result(1, NULL);
		return 0;
	}
	emit_result(0, "link closed before the scenario completed");
	return 1;
}
