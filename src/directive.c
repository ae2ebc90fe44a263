/*
 * directive.c -- reading hub directives (see directive.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "directive.h"

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM)" to seconds, or -1. */
static int64_t
rfc3339(const char *s)
{
	struct tm tm;
	const char *p;
	int off = 0, sign, hh, mm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && p[3] == ':' &&
	    isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5]) &&
	    sscanf(p + 1, "%2d:%2d", &hh, &mm) == 2) {
		sign = *p == '-' ? -1 : 1;
		off = sign * (hh * 3600 + mm * 60);
		p += 6;
	} else
		return -1;
	if (*p != '\0' || (t = timegm(&tm)) == (time_t)-1)
		return -1;
	return (int64_t)t - off;
}

static int
fail(char *err, size_t len, const char *msg, const char *what)
{
	snprintf(err, len, "directive: %s%s%.100s", msg, what ? ": " : "",
	    what ? what : "");
	return -EINVAL;
}

int
rg_directive_parse(const char *data, size_t len, int64_t now,
    struct rg_directive *d, char *err, size_t err_len)
{
	const char *type, *id, *action, *pool, *reason, *issued, *until;
	json_error_t je;
	json_t *o;
	int rc = -EINVAL;

	memset(d, 0, sizeof(*d));
	if ((o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		snprintf(err, err_len, "directive: not JSON: line %d: %.100s",
		    je.line, je.text);
		return -EINVAL;
	}
	type = json_string_value(json_object_get(o, "type"));
	id = json_string_value(json_object_get(o, "id"));
	action = json_string_value(json_object_get(o, "action"));
	pool = json_string_value(json_object_get(o, "pool"));
	reason = json_string_value(json_object_get(o, "reason"));
	issued = json_string_value(json_object_get(o, "issued"));
	until = json_string_value(json_object_get(o, "until"));
	if (type == NULL || strcmp(type, "resguard-directive") != 0)
		rc = fail(err, err_len, "\"type\" is not \"resguard-directive\"",
		    NULL);
	else if (json_integer_value(json_object_get(o, "version")) != 1)
		rc = fail(err, err_len, "\"version\" is not 1", NULL);
	else if (id == NULL || id[0] == '\0' || strlen(id) >= sizeof(d->id))
		rc = fail(err, err_len, "\"id\" missing or too long", NULL);
	else if ((d->issued = rfc3339(issued)) < 0)
		rc = fail(err, err_len, "\"issued\" is not an RFC 3339 time",
		    issued);
	else if (now >= 0 && d->issued > now + 300)
		rc = fail(err, err_len, "issued in the future", issued);
	else if (action == NULL)
		rc = fail(err, err_len, "\"action\" missing", NULL);
	else if (strcmp(action, "release") == 0) {
		d->action = RG_DIRECTIVE_RELEASE;
		rc = 0;
	} else if (strcmp(action, "pin") != 0)
		rc = fail(err, err_len, "unknown action", action);
	else if (pool == NULL || pool[0] == '\0' ||
	    strlen(pool) >= sizeof(d->pool))
		rc = fail(err, err_len, "\"pool\" missing or too long", NULL);
	else if ((d->until = rfc3339(until)) < 0)
		rc = fail(err, err_len, "\"until\" is not an RFC 3339 time",
		    until);
	else if (now >= 0 && d->until <= now)
		rc = fail(err, err_len, "the pin ended already", until);
	else if (now >= 0 && d->until > now + RG_DIRECTIVE_MAX_S)
		rc = fail(err, err_len, "the pin would last more than 30 days",
		    until);
	else {
		d->action = RG_DIRECTIVE_PIN;
		snprintf(d->pool, sizeof(d->pool), "%s", pool);
		rc = 0;
	}
	if (rc == 0) {
		snprintf(d->id, sizeof(d->id), "%s", id);
		snprintf(d->reason, sizeof(d->reason), "%s",
		    reason != NULL ? reason : "");
	}
	json_decref(o);
	return rc;
}
