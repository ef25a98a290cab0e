-- 005: attendance. Course sessions; every card tap a terminal sent, applied
-- or refused, kept for ever (append-only, so a replayed sequence number
-- answers what it answered the first time); the open check-ins waiting for
-- their check-out. A check-out is a ledger posting (lcb_prepare_checkout):
-- the attended minutes and, exactly once, the course's credits.

-- A course meets in sessions; terminals name the session a tap is for.
CREATE TABLE course_sessions (
    id             bigserial PRIMARY KEY,
    code           text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]{1,32}$'),
    catalogue_id   bigint NOT NULL REFERENCES catalogue (id),
    -- the course's owner, repeated so authority is one comparison
    institution_id bigint NOT NULL REFERENCES institutions (id),
    title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    starts_at      timestamptz,
    ends_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at)
);

-- A session belongs to a course (not a certificate) and to its owner.
CREATE FUNCTION lcb_check_session() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM catalogue c WHERE c.id = NEW.catalogue_id AND c.kind = 'course'
                   AND c.institution_id = NEW.institution_id) THEN
        RAISE EXCEPTION USING ERRCODE = 'LCB00',
            MESSAGE = 'course_not_found: a session belongs to a course, with the course''s owner';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER course_sessions_course BEFORE INSERT OR UPDATE ON course_sessions
    FOR EACH ROW EXECUTE FUNCTION lcb_check_session();

-- Every tap received, identified by (institution, terminal, sequence). Times
-- are the terminal's clock in milliseconds since the epoch, as sent;
-- terminal_time is the same instant, NULL only for a tap refused
-- tap_in_future beyond what timestamptz holds.
CREATE TABLE taps (
    institution_id   bigint NOT NULL REFERENCES institutions (id),
    terminal         text NOT NULL CHECK (terminal ~ '^[A-Za-z0-9_.-]{1,32}$'),
    sequence         numeric(20, 0) NOT NULL CHECK (sequence BETWEEN 1 AND 18446744073709551615),
    card             text NOT NULL CHECK (card ~ '^[0-9]{19}$'),
    session          text NOT NULL CHECK (session ~ '^[A-Za-z0-9_.-]{1,32}$'),
    direction        text NOT NULL CHECK (direction IN ('in', 'out')),
    terminal_time_ms bigint NOT NULL CHECK (terminal_time_ms >= 0),
    terminal_time    timestamptz,
    received_at      timestamptz NOT NULL DEFAULT now(),
    -- 'applied', or the refusal's error code
    status           text NOT NULL CHECK (status ~ '^[a-z][a-z0-9_]{0,31}$'),
    learner_id       bigint REFERENCES learners (id),
    catalogue_id     bigint REFERENCES catalogue (id),
    attended_minutes integer NOT NULL DEFAULT 0 CHECK (attended_minutes BETWEEN 0 AND 720),
    credited         bigint NOT NULL DEFAULT 0 CHECK (credited >= 0),
    PRIMARY KEY (institution_id, terminal, sequence),
    CHECK ((status = 'applied' AND direction = 'out') OR (attended_minutes = 0 AND credited = 0))
);
CREATE INDEX taps_attendance ON taps (learner_id, catalogue_id)
    WHERE status = 'applied' AND direction = 'out';

CREATE TRIGGER taps_append_only BEFORE UPDATE OR DELETE ON taps
    FOR EACH ROW EXECUTE FUNCTION lcb_refuse_change();
CREATE TRIGGER taps_no_truncate BEFORE TRUNCATE ON taps
    FOR EACH STATEMENT EXECUTE FUNCTION lcb_refuse_change();

-- Working state, not a record: the check-in each learner has open per
-- course (at most one), removed by its check-out. The tap is the record.
CREATE TABLE open_check_ins (
    learner_id     bigint NOT NULL REFERENCES learners (id),
    catalogue_id   bigint NOT NULL REFERENCES catalogue (id),
    institution_id bigint NOT NULL,
    terminal       text NOT NULL,
    sequence       numeric(20, 0) NOT NULL,
    checked_in_at  timestamptz NOT NULL,
    PRIMARY KEY (learner_id, catalogue_id),
    FOREIGN KEY (institution_id, terminal, sequence) REFERENCES taps (institution_id, terminal, sequence)
);

-- The rules' constants, in one place (docs/attendance.md).
CREATE FUNCTION lcb_open_check_in_limit_ms() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 12 * 3600 * 1000::bigint $$;
CREATE FUNCTION lcb_clock_tolerance_ms() RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT 300 * 1000::bigint $$;

-- The message of each tap refusal: the same on the first answer and on
-- every replay of it (taps keep only the code).
CREATE FUNCTION lcb_tap_refusal_text(p_code text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_code
        WHEN 'card_not_found' THEN 'no such card'
        WHEN 'card_lost' THEN 'the card was reported lost'
        WHEN 'card_replaced' THEN 'the card was replaced; use the new card'
        WHEN 'card_cancelled' THEN 'the card was cancelled'
        WHEN 'session_not_found' THEN 'no such course session'
        WHEN 'course_not_owned' THEN 'the session''s course belongs to another institution'
        WHEN 'tap_too_old' THEN 'the tap is older than the offline window'
        WHEN 'tap_in_future' THEN 'the tap''s time is ahead of the bank''s clock'
        WHEN 'already_checked_in' THEN 'the card is already checked in to this course'
        WHEN 'no_open_check_in' THEN 'no open check-in for this card and course'
        WHEN 'too_short' THEN 'checked out less than one minute after checking in'
        WHEN 'sequence_replayed' THEN 'this sequence number was used for a different tap'
        ELSE p_code END
$$;

-- A tap's milliseconds as a timestamptz, NULL when beyond the year 9999.
CREATE FUNCTION lcb_ms_time(p_ms bigint) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_ms BETWEEN 0 AND 253402300799999
                THEN 'epoch'::timestamptz + p_ms * interval '1 millisecond' END
$$;

CREATE FUNCTION lcb_time_ms(p_time timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT (extract(epoch FROM p_time) * 1000)::bigint $$;

-- What the checks common to every tap found. seen: the sequence number was
-- used before, with seen_status its stored status (same content) or
-- 'sequence_replayed' (other content). refusal: why a new tap is refused.
CREATE TYPE lcb_tap_check AS (
    seen         boolean,
    seen_status  text,
    refusal      text,
    learner_id   bigint,
    catalogue_id bigint
);

-- Replay, then card, session, owner, then the terminal's clock: a replay is
-- answered from the record before anything that may have changed since
-- (a card lost later, a window passed) is looked at.
CREATE FUNCTION lcb_tap_check(p_institution_id bigint, p_terminal text, p_sequence numeric,
                              p_card text, p_session text, p_direction text, p_terminal_ms bigint,
                              p_window_s integer) RETURNS lcb_tap_check
LANGUAGE plpgsql STABLE AS $$
DECLARE
    t taps;
    s course_sessions;
    answer lcb_tap_check := ROW(false, NULL, NULL, NULL, NULL)::lcb_tap_check;
    now_ms bigint := lcb_time_ms(now());
    refusal lcb_prepared;
BEGIN
    SELECT * INTO t FROM taps WHERE institution_id = p_institution_id AND terminal = p_terminal
        AND sequence = p_sequence;
    IF FOUND THEN
        answer.seen := true;
        answer.seen_status := CASE WHEN t.card = p_card AND t.session = p_session
                                        AND t.direction = p_direction
                                        AND t.terminal_time_ms = p_terminal_ms
                                   THEN t.status ELSE 'sequence_replayed' END;
        answer.learner_id := t.learner_id;
        answer.catalogue_id := t.catalogue_id;
        RETURN answer;
    END IF;
    SELECT learner_id INTO answer.learner_id FROM cards WHERE number = p_card;
    SELECT * INTO s FROM course_sessions WHERE code = p_session;
    answer.catalogue_id := s.catalogue_id;
    refusal := lcb_card_refusal(p_card);
    IF NOT (refusal IS NULL) THEN
        answer.refusal := refusal.error_code;
    ELSIF s.id IS NULL THEN
        answer.refusal := 'session_not_found';
    ELSIF s.institution_id <> p_institution_id THEN
        answer.refusal := 'course_not_owned';
    ELSIF p_terminal_ms > now_ms + lcb_clock_tolerance_ms() THEN
        answer.refusal := 'tap_in_future';
    ELSIF p_terminal_ms < now_ms - coalesce(p_window_s, 604800) * 1000::bigint THEN
        answer.refusal := 'tap_too_old';
    END IF;
    RETURN answer;
END $$;

CREATE FUNCTION lcb_record_tap(p_institution_id bigint, p_terminal text, p_sequence numeric,
                               p_card text, p_session text, p_direction text, p_terminal_ms bigint,
                               p_status text, p_learner_id bigint, p_catalogue_id bigint,
                               p_minutes integer, p_credited bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO taps (institution_id, terminal, sequence, card, session, direction,
                      terminal_time_ms, terminal_time, status, learner_id, catalogue_id,
                      attended_minutes, credited)
        VALUES (p_institution_id, p_terminal, p_sequence, p_card, p_session, p_direction,
                p_terminal_ms, lcb_ms_time(p_terminal_ms), p_status, p_learner_id, p_catalogue_id,
                p_minutes, p_credited)
$$;

-- A learner's attended minutes for a course (the sum over applied
-- check-outs) and the minutes the course requires; one row, zeros when
-- either is unknown.
CREATE FUNCTION lcb_tap_status_of(p_learner_id bigint, p_catalogue_id bigint)
    RETURNS TABLE (attended_minutes bigint, required_minutes integer)
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT sum(t.attended_minutes) FROM taps t
                     WHERE t.learner_id = p_learner_id AND t.catalogue_id = p_catalogue_id
                       AND t.status = 'applied' AND t.direction = 'out'), 0)::bigint,
           coalesce((SELECT c.required_minutes FROM catalogue c WHERE c.id = p_catalogue_id), 0)
$$;

-- The same by course code; no row when there is no such course.
CREATE FUNCTION lcb_attendance_status(p_learner_id bigint, p_course text)
    RETURNS TABLE (attended_minutes bigint, required_minutes integer)
LANGUAGE sql STABLE AS $$
    SELECT s.attended_minutes, s.required_minutes
    FROM catalogue c, lcb_tap_status_of(p_learner_id, c.id) s
    WHERE c.code = p_course AND c.kind = 'course'
$$;

-- The answer a terminal gets for a tap recorded earlier: its status, the
-- learner's minutes for the course, and the credits this tap deposited.
CREATE FUNCTION lcb_tap_result(p_institution_id bigint, p_terminal text, p_sequence numeric)
    RETURNS TABLE (status text, attended_minutes bigint, required_minutes integer,
                   credited bigint, credit_unit text)
LANGUAGE sql STABLE AS $$
    SELECT t.status, coalesce(a.attended_minutes, 0), coalesce(a.required_minutes, 0),
           t.credited, CASE WHEN t.credited > 0 THEN c.unit ELSE '' END
    FROM taps t
    LEFT JOIN catalogue c ON c.id = t.catalogue_id
    CROSS JOIN LATERAL lcb_tap_status_of(t.learner_id, t.catalogue_id) a
    WHERE t.institution_id = p_institution_id AND t.terminal = p_terminal
      AND t.sequence = p_sequence
$$;

-- A check-in (not a ledger posting): opens the learner's check-in for the
-- session's course. Refusals are recorded too, so a replay answers the
-- same. duplicate: this sequence number was seen before with this content.
CREATE FUNCTION lcb_tap_in(p_institution_id bigint, p_terminal text, p_sequence numeric,
                           p_card text, p_session text, p_terminal_ms bigint, p_window_s integer)
    RETURNS TABLE (status text, duplicate boolean, message text, attended_minutes bigint,
                   required_minutes integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    chk lcb_tap_check := lcb_tap_check(p_institution_id, p_terminal, p_sequence, p_card,
                                       p_session, 'in', p_terminal_ms, p_window_s);
    open open_check_ins;
    verdict text := chk.refusal;
BEGIN
    IF chk.seen THEN
        RETURN QUERY SELECT chk.seen_status, chk.seen_status <> 'sequence_replayed',
            lcb_tap_refusal_text(chk.seen_status), s.attended_minutes, s.required_minutes
            FROM lcb_tap_status_of(chk.learner_id, chk.catalogue_id) s;
        RETURN;
    END IF;
    IF verdict IS NULL THEN
        SELECT * INTO open FROM open_check_ins o
            WHERE o.learner_id = chk.learner_id AND o.catalogue_id = chk.catalogue_id;
        IF FOUND AND p_terminal_ms - lcb_time_ms(open.checked_in_at) <= lcb_open_check_in_limit_ms() THEN
            verdict := 'already_checked_in';
        ELSIF FOUND THEN
            -- forgotten check-out: the stale check-in expires, earning nothing
            DELETE FROM open_check_ins o WHERE o.learner_id = open.learner_id
                AND o.catalogue_id = open.catalogue_id AND o.sequence = open.sequence
                AND o.terminal = open.terminal AND o.institution_id = open.institution_id;
        END IF;
    END IF;
    PERFORM lcb_record_tap(p_institution_id, p_terminal, p_sequence, p_card, p_session, 'in',
                           p_terminal_ms, coalesce(verdict, 'applied'), chk.learner_id,
                           chk.catalogue_id, 0, 0);
    IF verdict IS NULL THEN
        INSERT INTO open_check_ins (learner_id, catalogue_id, institution_id, terminal, sequence,
                                    checked_in_at)
            VALUES (chk.learner_id, chk.catalogue_id, p_institution_id, p_terminal, p_sequence,
                    lcb_ms_time(p_terminal_ms))
            ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            -- a concurrent check-in of the same learner and course won: the
            -- caller retries the statement and is answered already_checked_in
            RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'concurrent check-in; retry';
        END IF;
    END IF;
    RETURN QUERY SELECT coalesce(verdict, 'applied'), false, lcb_tap_refusal_text(verdict),
        s.attended_minutes, s.required_minutes
        FROM lcb_tap_status_of(chk.learner_id, chk.catalogue_id) s;
END $$;

-- lcb_course_credited (004): a course's credits count once per learner.

CREATE FUNCTION lcb_checkout_refused(p_institution_id bigint, p_terminal text, p_sequence numeric,
                                     p_card text, p_session text, p_terminal_ms bigint,
                                     p_code text, p_learner_id bigint, p_catalogue_id bigint)
    RETURNS lcb_prepared
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM lcb_record_tap(p_institution_id, p_terminal, p_sequence, p_card, p_session, 'out',
                           p_terminal_ms, p_code, p_learner_id, p_catalogue_id, 0, 0);
    RETURN lcb_refusal(p_code, lcb_tap_refusal_text(p_code));
END $$;

-- A check-out that passed the common checks: pairs it with the open
-- check-in and answers the deposit of the attended minutes and, the first
-- time the course's required minutes are reached, of its credits.
CREATE FUNCTION lcb_checkout_apply(p_institution_id bigint, p_terminal text, p_sequence numeric,
                                   p_card text, p_session text, p_terminal_ms bigint,
                                   p_learner_id bigint, p_catalogue_id bigint) RETURNS lcb_prepared
LANGUAGE plpgsql AS $$
DECLARE
    -- The learner's chain is locked first: this learner's postings and
    -- check-outs queue here, so the open check-in and the test for credits
    -- already deposited below cannot race with another of them.
    answer lcb_prepared := lcb_lock_chain(p_learner_id);
    course catalogue;
    open open_check_ins;
    elapsed_ms bigint;
    minutes integer;
    before bigint;
    credit bigint := 0;
    issuer bigint;
BEGIN
    SELECT * INTO course FROM catalogue WHERE id = p_catalogue_id;
    SELECT * INTO open FROM open_check_ins o
        WHERE o.learner_id = p_learner_id AND o.catalogue_id = p_catalogue_id;
    IF NOT FOUND THEN
        RETURN lcb_checkout_refused(p_institution_id, p_terminal, p_sequence, p_card, p_session,
                                    p_terminal_ms, 'no_open_check_in', p_learner_id, p_catalogue_id);
    END IF;
    elapsed_ms := p_terminal_ms - lcb_time_ms(open.checked_in_at);
    IF elapsed_ms < 60000 THEN
        -- a double tap or clocks out of step: the check-in stays open
        RETURN lcb_checkout_refused(p_institution_id, p_terminal, p_sequence, p_card, p_session,
                                    p_terminal_ms, 'too_short', p_learner_id, p_catalogue_id);
    END IF;
    DELETE FROM open_check_ins o WHERE o.learner_id = p_learner_id AND o.catalogue_id = p_catalogue_id;
    IF elapsed_ms > lcb_open_check_in_limit_ms() THEN
        -- the forgotten check-out rule: the check-in expired, earning nothing
        RETURN lcb_checkout_refused(p_institution_id, p_terminal, p_sequence, p_card, p_session,
                                    p_terminal_ms, 'no_open_check_in', p_learner_id, p_catalogue_id);
    END IF;
    minutes := (elapsed_ms / 60000)::integer;
    SELECT s.attended_minutes INTO before FROM lcb_tap_status_of(p_learner_id, p_catalogue_id) s;
    IF course.required_minutes > 0 AND before < course.required_minutes
       AND before + minutes >= course.required_minutes
       AND NOT lcb_course_credited(answer.chain_account, course.code, course.unit) THEN
        credit := course.credit_value;
    END IF;
    PERFORM lcb_record_tap(p_institution_id, p_terminal, p_sequence, p_card, p_session, 'out',
                           p_terminal_ms, 'applied', p_learner_id, p_catalogue_id, minutes, credit);
    SELECT a.id INTO issuer FROM accounts a WHERE a.institution_id = p_institution_id;
    answer.kind := 'deposit';
    answer.item_code := course.code;
    answer.result := 'attended';
    answer.completed_on := lcb_ms_time(p_terminal_ms)::date;
    answer.reason := '';
    answer.accounts := ARRAY[issuer, answer.chain_account];
    answer.units := ARRAY['minutes', 'minutes'];
    answer.amounts := ARRAY[-minutes, minutes]::bigint[];
    IF credit > 0 THEN
        answer.accounts := answer.accounts || ARRAY[issuer, answer.chain_account];
        answer.units := answer.units || ARRAY[course.unit, course.unit];
        answer.amounts := answer.amounts || ARRAY[-credit, credit];
    END IF;
    RETURN answer;
END $$;

-- A check-out, as a ledger posting under the idempotency key
-- "tap:<terminal>:<sequence>" of the terminal's institution. A replay of an
-- applied check-out answers its transaction; of a refused one, the refusal.
CREATE FUNCTION lcb_prepare_checkout(p_institution_id bigint, p_terminal text, p_sequence numeric,
                                     p_key text, p_digest bytea, p_card text, p_session text,
                                     p_terminal_ms bigint, p_window_s integer) RETURNS lcb_prepared
LANGUAGE plpgsql AS $$
DECLARE
    chk lcb_tap_check := lcb_tap_check(p_institution_id, p_terminal, p_sequence, p_card,
                                       p_session, 'out', p_terminal_ms, p_window_s);
    answer lcb_prepared;
BEGIN
    IF chk.seen AND chk.seen_status = 'applied' THEN
        answer := lcb_replay(p_institution_id, p_key, p_digest);
        IF answer IS NULL THEN
            RETURN lcb_refusal('internal_error', 'tap ' || p_key || ' was applied without a transaction');
        END IF;
        RETURN answer;
    ELSIF chk.seen THEN
        RETURN lcb_refusal(chk.seen_status, lcb_tap_refusal_text(chk.seen_status));
    ELSIF chk.refusal IS NOT NULL THEN
        RETURN lcb_checkout_refused(p_institution_id, p_terminal, p_sequence, p_card, p_session,
                                    p_terminal_ms, chk.refusal, chk.learner_id, chk.catalogue_id);
    END IF;
    RETURN lcb_checkout_apply(p_institution_id, p_terminal, p_sequence, p_card, p_session,
                              p_terminal_ms, chk.learner_id, chk.catalogue_id);
END $$;

-- Sequence numbers a terminal used below its highest that never arrived,
-- as ranges, lowest first, at most p_limit of them. Only the last 100 000
-- numbers (the highest and the 99 999 below it) are looked at, so the
-- answer stays cheap for a terminal that has sent millions.
CREATE FUNCTION lcb_terminal_gaps(p_institution_id bigint, p_terminal text, p_limit integer)
    RETURNS TABLE (first_missing numeric, last_missing numeric)
LANGUAGE sql STABLE AS $$
    WITH top AS (
        SELECT greatest(1, max(sequence) - 99999) AS lo FROM taps
        WHERE institution_id = p_institution_id AND terminal = p_terminal
    ), seen AS (
        SELECT t.sequence,
               coalesce(lag(t.sequence) OVER (ORDER BY t.sequence) + 1, top.lo) AS gap_from
        FROM taps t, top
        WHERE t.institution_id = p_institution_id AND t.terminal = p_terminal
          AND t.sequence >= top.lo
    )
    SELECT gap_from, sequence - 1 FROM seen WHERE sequence > gap_from
    ORDER BY sequence LIMIT p_limit
$$;

-- Registers a session of a course (lcbctl session add).
CREATE FUNCTION lcb_add_session(p_code text, p_course text, p_title text, p_starts timestamptz,
                                p_ends timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    course catalogue;
    new_id bigint;
BEGIN
    SELECT * INTO course FROM catalogue WHERE code = p_course;
    IF NOT FOUND OR course.kind <> 'course' THEN
        PERFORM lcb_fail('course_not_found', 'no course with code ' || p_course);
    END IF;
    IF EXISTS (SELECT 1 FROM course_sessions WHERE code = p_code) THEN
        PERFORM lcb_fail('session_exists', 'a session with code ' || p_code || ' exists');
    END IF;
    IF p_starts IS NOT NULL AND p_ends IS NOT NULL AND p_ends <= p_starts THEN
        PERFORM lcb_fail('invalid_argument', 'a session ends after it starts');
    END IF;
    INSERT INTO course_sessions (code, catalogue_id, institution_id, title, starts_at, ends_at)
        VALUES (p_code, course.id, course.institution_id, p_title, p_starts, p_ends)
        RETURNING id INTO new_id;
    RETURN new_id;
END $$;

-- lcbd records taps and keeps open check-ins; it never changes a tap.
REVOKE ALL ON course_sessions, taps, open_check_ins FROM lcb_app;
GRANT SELECT, INSERT ON course_sessions, taps TO lcb_app;
GRANT SELECT, INSERT, DELETE ON open_check_ins TO lcb_app;
GRANT USAGE ON SEQUENCE course_sessions_id_seq TO lcb_app;
