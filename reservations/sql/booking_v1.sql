-- The booking path's steps in SQL, version 1.
--
-- Installed by migration 0004_booking_sql_v1; a released file never
-- changes: a new version is a new file and a new migration that replaces
-- the functions. Each step of a purchase is one function and one round trip
-- for its caller, with its plan cached per database session:
--
--   booking_hold            reservations.holds.hold_create (and the event-loop path)
--   booking_hold_best       the same, best available
--   booking_checkout_begin  reservations.checkout.checkout_begin
--   booking_checkout_fail   reservations.checkout.checkout_fail
--   booking_sale            reservations.checkout.checkout_finish
--
-- Lock order, everywhere (reservations/locking.py): the person's shopper
-- row, then hold rows, then seat rows by ascending id. Answers are rows
-- with an `outcome` first: the Python caller turns an outcome into the
-- contract's error (reservations/errors.py) or into the answer.
--
-- Availability has its other forms in reservations/availability.py; the
-- test tests/reservations/test_availability.py pins these to them.

-- A seat can be held now: available, or held by a hold that has lapsed (lazy expiry).
CREATE OR REPLACE FUNCTION booking_seat_free(seat_status text, held_until timestamptz, at timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT seat_status = 'available' OR (seat_status = 'held' AND coalesce(held_until <= at, false))
$$;

-- A hold still claims its seats: active, and its expiry or its payment window is ahead.
CREATE OR REPLACE FUNCTION booking_hold_live(
    hold_status text, expires_at timestamptz, paying_until timestamptz, at timestamptz
) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hold_status = 'active' AND (expires_at > at OR coalesce(paying_until > at, false))
$$;

-- The per-person count: seats in the person's live holds plus seats bought.
CREATE OR REPLACE FUNCTION booking_shopper_seats(p_event bigint, p_user bigint, p_now timestamptz)
RETURNS integer LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT count(*) FROM reservations_seat s JOIN reservations_hold h ON h.id = s.hold_id
        WHERE h.user_id = p_user AND h.event_id = p_event AND h.status = 'active'
          AND s.status = 'held' AND NOT booking_seat_free(s.status, s.held_until, p_now)
    ) + (
        SELECT count(*) FROM reservations_ticket t
        WHERE t.user_id = p_user AND t.event_id = p_event AND t.status = 'valid'
    );
END
$$;

-- Hold seats, all or nothing. `p_seat_ids` are the seats asked for (by id),
-- or the seats best available picked and already locked; `p_wanted` is how
-- many the person asked for. Outcomes, in the contract's order:
--   unknown_seat      one row per id that is no seat of this event
--   limit_exceeded    `have`: seats held and bought already
--   not_enough_seats  best available found fewer free seats than wanted
--   seat_unavailable  one row per seat taken by someone else
--   held              one row per seat now held, with what the answer shows
-- `p_locks` false and `p_race_pause` (debug settings BOOKING_ROW_LOCKS and
-- BOOKING_RACE_PAUSE_SECONDS) take the locks away and widen the gap between
-- check and write, so the concurrency tests can show the race they close.
CREATE OR REPLACE FUNCTION booking_hold(
    p_event bigint, p_user bigint, p_seat_ids bigint[], p_wanted integer, p_now timestamptz,
    p_hold_seconds integer, p_limit integer, p_locks boolean, p_race_pause double precision
) RETURNS TABLE (
    outcome text, hold_id bigint, seat_id bigint, seat_section text, seat_row text,
    seat_number integer, grade text, price integer, have integer
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_found bigint[];
    v_taken bigint[];
    v_have integer;
    v_hold bigint;
    v_expires timestamptz := p_now + make_interval(secs => p_hold_seconds);
BEGIN
    IF p_locks THEN
        INSERT INTO reservations_shopper (event_id, user_id, created_at) VALUES (p_event, p_user, p_now)
        ON CONFLICT (event_id, user_id) DO UPDATE SET event_id = EXCLUDED.event_id;
        PERFORM FROM reservations_seat s WHERE s.event_id = p_event AND s.id = ANY(p_seat_ids) ORDER BY s.id FOR UPDATE;
    END IF;

    SELECT array_agg(s.id ORDER BY s.id) INTO v_found
    FROM reservations_seat s WHERE s.event_id = p_event AND s.id = ANY(p_seat_ids);
    IF coalesce(cardinality(v_found), 0) < cardinality(p_seat_ids) THEN
        RETURN QUERY SELECT 'unknown_seat', NULL::bigint, asked, NULL, NULL, NULL::integer, NULL, NULL::integer, NULL::integer
            FROM unnest(p_seat_ids) AS asked WHERE asked <> ALL(coalesce(v_found, '{}')) ORDER BY asked;
        RETURN;
    END IF;

    v_have := booking_shopper_seats(p_event, p_user, p_now);
    IF v_have + p_wanted > p_limit THEN
        RETURN QUERY SELECT 'limit_exceeded', NULL::bigint, NULL::bigint, NULL, NULL, NULL::integer, NULL, NULL::integer, v_have;
        RETURN;
    END IF;

    IF coalesce(cardinality(v_found), 0) < p_wanted THEN
        RETURN QUERY SELECT 'not_enough_seats', NULL::bigint, NULL::bigint, NULL, NULL, NULL::integer, NULL, NULL::integer, v_have;
        RETURN;
    END IF;

    SELECT array_agg(s.id ORDER BY s.id) INTO v_taken
    FROM reservations_seat s WHERE s.id = ANY(v_found) AND NOT booking_seat_free(s.status, s.held_until, p_now);
    IF v_taken IS NOT NULL THEN
        RETURN QUERY SELECT 'seat_unavailable', NULL::bigint, taken, NULL, NULL, NULL::integer, NULL, NULL::integer, v_have
            FROM unnest(v_taken) AS taken;
        RETURN;
    END IF;

    IF NOT p_locks AND p_race_pause > 0 THEN
        PERFORM pg_sleep(p_race_pause);
    END IF;

    INSERT INTO reservations_hold (event_id, user_id, status, expires_at, seat_ids, total, created_at, updated_at)
    SELECT p_event, p_user, 'active', v_expires, v_found, sum(g.price), p_now, p_now
    FROM reservations_seat s JOIN reservations_pricegrade g ON g.id = s.grade_id WHERE s.id = ANY(v_found)
    RETURNING id INTO v_hold;

    RETURN QUERY
    UPDATE reservations_seat s SET status = 'held', hold_id = v_hold, held_until = v_expires
    FROM reservations_pricegrade g WHERE s.id = ANY(v_found) AND g.id = s.grade_id
    RETURNING 'held'::text, v_hold, s.id, s.section::text, s.row::text, s.number, g.code::text, g.price, v_have;
END
$$;

-- Best available, step 1: the best free seats of a grade in quality order
-- (row nearest the stage, section, number), leaving out `p_skip`: free
-- seats through the seat_best_available index first, then seats of lapsed
-- holds (lazy expiry). With `p_lock`, FOR UPDATE SKIP LOCKED: seats another
-- shopper is taking right now are passed over, nobody waits.
CREATE OR REPLACE FUNCTION booking_best_window(
    p_event bigint, p_grade bigint, p_size integer, p_now timestamptz, p_lock boolean, p_skip bigint[]
) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE
    v_free bigint[];
    v_lapsed bigint[];
BEGIN
    IF p_lock THEN
        SELECT array_agg(w.id ORDER BY w.row_index, w.section, w.number) INTO v_free FROM (
            SELECT s.id, s.row_index, s.section, s.number FROM reservations_seat s
            WHERE s.event_id = p_event AND s.grade_id = p_grade AND s.status = 'available' AND s.id <> ALL(p_skip)
            ORDER BY s.row_index, s.section, s.number LIMIT p_size FOR UPDATE OF s SKIP LOCKED
        ) w;
    ELSE
        SELECT array_agg(w.id ORDER BY w.row_index, w.section, w.number) INTO v_free FROM (
            SELECT s.id, s.row_index, s.section, s.number FROM reservations_seat s
            WHERE s.event_id = p_event AND s.grade_id = p_grade AND s.status = 'available' AND s.id <> ALL(p_skip)
            ORDER BY s.row_index, s.section, s.number LIMIT p_size
        ) w;
    END IF;
    v_free := coalesce(v_free, '{}');
    IF cardinality(v_free) >= p_size THEN
        RETURN v_free;
    END IF;
    IF p_lock THEN
        SELECT array_agg(w.id ORDER BY w.row_index, w.section, w.number) INTO v_lapsed FROM (
            SELECT s.id, s.row_index, s.section, s.number FROM reservations_seat s
            WHERE s.event_id = p_event AND s.grade_id = p_grade AND s.status = 'held'
              AND booking_seat_free(s.status, s.held_until, p_now) AND s.id <> ALL(p_skip)
            ORDER BY s.row_index, s.section, s.number LIMIT p_size - cardinality(v_free) FOR UPDATE OF s SKIP LOCKED
        ) w;
    ELSE
        SELECT array_agg(w.id ORDER BY w.row_index, w.section, w.number) INTO v_lapsed FROM (
            SELECT s.id, s.row_index, s.section, s.number FROM reservations_seat s
            WHERE s.event_id = p_event AND s.grade_id = p_grade AND s.status = 'held'
              AND booking_seat_free(s.status, s.held_until, p_now) AND s.id <> ALL(p_skip)
            ORDER BY s.row_index, s.section, s.number LIMIT p_size - cardinality(v_free)
        ) w;
    END IF;
    RETURN v_free || coalesce(v_lapsed, '{}');
END
$$;

-- Best available, step 2: the first run of `p_quantity` consecutive numbers
-- in one row among `p_seats` (given in quality order): rows in the order
-- their best seat comes, the lowest numbers of the first long enough run.
-- NULL when there is none.
CREATE OR REPLACE FUNCTION booking_adjacent_block(p_seats bigint[], p_quantity integer)
RETURNS bigint[] LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT (array_agg(c.id ORDER BY c.number))[1:p_quantity]
        FROM (
            SELECT s.id, s.section, s.row, s.number,
                s.number - row_number() OVER (PARTITION BY s.section, s.row ORDER BY s.number) AS run,
                min(q.rank) OVER (PARTITION BY s.section, s.row) AS row_rank
            FROM unnest(p_seats) WITH ORDINALITY AS q(id, rank) JOIN reservations_seat s ON s.id = q.id
        ) c
        GROUP BY c.section, c.row, c.run, c.row_rank
        HAVING count(*) >= p_quantity
        ORDER BY c.row_rank, min(c.number)
        LIMIT 1
    );
END
$$;

-- Hold `p_quantity` best available seats of a grade, adjacent where possible.
-- Lock the best free seats, as many as wanted (SKIP LOCKED: seats another
-- shopper is taking right now are passed over, nobody waits); if they are
-- one block, that is the pick, and each of many shoppers arriving at once
-- locks only the seats it takes. Else lock as many again and look for a
-- block in the window; if it has none, look further (64 seats) for a block
-- and lock just that; else take the window's best seats. The seats picked
-- (or the short window: not_enough_seats) go to booking_hold, which checks
-- the limit and writes, as for seats by id.
CREATE OR REPLACE FUNCTION booking_hold_best(
    p_event bigint, p_user bigint, p_grade bigint, p_quantity integer, p_now timestamptz,
    p_hold_seconds integer, p_limit integer, p_locks boolean, p_race_pause double precision
) RETURNS TABLE (
    outcome text, hold_id bigint, seat_id bigint, seat_section text, seat_row text,
    seat_number integer, grade text, price integer, have integer
) LANGUAGE plpgsql AS $$
DECLARE
    v_window bigint[];
    v_block bigint[];
    v_locked integer;
BEGIN
    IF p_locks THEN
        INSERT INTO reservations_shopper (event_id, user_id, created_at) VALUES (p_event, p_user, p_now)
        ON CONFLICT (event_id, user_id) DO UPDATE SET event_id = EXCLUDED.event_id;
    END IF;
    v_window := booking_best_window(p_event, p_grade, p_quantity, p_now, p_locks, '{}');
    v_block := booking_adjacent_block(v_window, p_quantity);
    IF v_block IS NULL AND cardinality(v_window) >= p_quantity THEN
        v_window := v_window || booking_best_window(p_event, p_grade, p_quantity, p_now, p_locks, v_window);
        v_block := booking_adjacent_block(v_window, p_quantity);
        IF v_block IS NULL THEN
            v_block := booking_adjacent_block(
                booking_best_window(p_event, p_grade, 64, p_now, false, v_window), p_quantity
            );
            IF v_block IS NOT NULL AND p_locks THEN
                SELECT count(*) INTO v_locked FROM (
                    SELECT s.id FROM reservations_seat s
                    WHERE s.id = ANY(v_block) AND booking_seat_free(s.status, s.held_until, p_now)
                    ORDER BY s.id FOR UPDATE SKIP LOCKED
                ) got;
                IF v_locked < p_quantity THEN
                    v_block := NULL;
                END IF;
            END IF;
        END IF;
    END IF;
    IF cardinality(v_window) >= p_quantity THEN
        v_window := coalesce(v_block, v_window[1:p_quantity]);
    END IF;
    RETURN QUERY SELECT * FROM booking_hold(
        p_event, p_user, (SELECT coalesce(array_agg(picked ORDER BY picked), '{}') FROM unnest(v_window) picked),
        p_quantity, p_now, p_hold_seconds, p_limit, p_locks, p_race_pause
    );
END
$$;

-- Mark a locked hold as being paid until `p_paying_until`, or no longer
-- (NULL), and move its seats' held_until to the later of the hold's expiry
-- and that: the invariant the availability rule relies on.
CREATE OR REPLACE FUNCTION booking_hold_paying_set(p_hold bigint, p_paying_until timestamptz, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_expires timestamptz;
BEGIN
    UPDATE reservations_hold SET paying_until = p_paying_until, updated_at = p_now WHERE id = p_hold
    RETURNING expires_at INTO v_expires;
    UPDATE reservations_seat SET held_until = greatest(v_expires, p_paying_until)
    WHERE id IN (SELECT id FROM reservations_seat WHERE hold_id = p_hold AND status = 'held' ORDER BY id FOR UPDATE);
END
$$;

-- Checkout's first step: settle the Idempotency-Key and mark the hold as
-- being paid. `p_input_ok` is the Python check of the key and card token,
-- answered after the hold's 404 (the contract's order). Outcomes:
--   not_found, invalid, key_reused, already_checked_out, hold_expired,
--   in_progress (another run of this checkout is paying now),
--   paid_before (`order_id`: a replay of a paid key),
--   stale (`payment_id`: an earlier run of this key died mid-payment; reconcile it first),
--   paying (`payment_id`, `payment_attempt`, `amount`, `currency`, `seats`: call the gateway).
CREATE OR REPLACE FUNCTION booking_checkout_begin(
    p_hold bigint, p_user bigint, p_key text, p_input_ok boolean, p_now timestamptz, p_paying_until timestamptz
) RETURNS TABLE (
    outcome text, payment_id bigint, payment_attempt integer, amount bigint, currency text, order_id bigint, seats integer
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_hold reservations_hold;
    v_payment reservations_payment;
    v_currency text;
BEGIN
    SELECT h.* INTO v_hold FROM reservations_hold h WHERE h.id = p_hold AND h.user_id = p_user FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bigint, NULL::integer, NULL::bigint, NULL, NULL::bigint, NULL::integer;
        RETURN;
    END IF;
    IF NOT p_input_ok THEN
        RETURN QUERY SELECT 'invalid', NULL::bigint, NULL::integer, NULL::bigint, NULL, NULL::bigint, NULL::integer;
        RETURN;
    END IF;

    SELECT p.* INTO v_payment FROM reservations_payment p WHERE p.user_id = p_user AND p.idempotency_key = p_key;
    IF FOUND THEN
        IF v_payment.hold_id <> v_hold.id THEN
            RETURN QUERY SELECT 'key_reused', v_payment.id, NULL::integer, NULL::bigint, NULL, NULL::bigint, NULL::integer;
            RETURN;
        ELSIF v_payment.order_id IS NOT NULL THEN
            RETURN QUERY SELECT 'paid_before', v_payment.id, NULL::integer, NULL::bigint, NULL, v_payment.order_id, NULL::integer;
            RETURN;
        ELSIF v_payment.status = 'in_progress' AND v_hold.paying_until > p_now THEN
            RETURN QUERY SELECT 'in_progress', v_payment.id, NULL::integer, NULL::bigint, NULL, NULL::bigint, NULL::integer;
            RETURN;
        ELSIF v_payment.status IN ('in_progress', 'voiding') THEN
            RETURN QUERY SELECT 'stale', v_payment.id, NULL::integer, NULL::bigint, NULL, NULL::bigint, NULL::integer;
            RETURN;
        END IF;
    END IF;

    IF v_hold.status = 'checked_out' THEN
        RETURN QUERY SELECT 'already_checked_out', NULL::bigint, NULL::integer, NULL::bigint, NULL, NULL::bigint, NULL::integer;
        RETURN;
    ELSIF NOT booking_hold_live(v_hold.status, v_hold.expires_at, v_hold.paying_until, p_now) THEN
        RETURN QUERY SELECT 'hold_expired', NULL::bigint, NULL::integer, NULL::bigint, NULL, NULL::bigint, NULL::integer;
        RETURN;
    ELSIF v_hold.paying_until > p_now THEN
        RETURN QUERY SELECT 'in_progress', NULL::bigint, NULL::integer, NULL::bigint, NULL, NULL::bigint, NULL::integer;
        RETURN;
    END IF;

    PERFORM booking_hold_paying_set(v_hold.id, p_paying_until, p_now);
    SELECT e.currency INTO v_currency FROM reservations_event e WHERE e.id = v_hold.event_id;
    IF v_payment.id IS NULL THEN
        INSERT INTO reservations_payment (
            user_id, hold_id, idempotency_key, status, attempt, amount, currency, charge_id, error,
            gateway_attempts, created_at, updated_at
        ) VALUES (p_user, v_hold.id, p_key, 'in_progress', 1, v_hold.total, v_currency, '', '', 0, p_now, p_now)
        RETURNING * INTO v_payment;
    ELSE
        UPDATE reservations_payment p SET attempt = p.attempt + 1, status = 'in_progress', error = '', updated_at = p_now
        WHERE p.id = v_payment.id RETURNING * INTO v_payment;
    END IF;
    RETURN QUERY SELECT 'paying', v_payment.id, v_payment.attempt::integer, v_payment.amount, v_payment.currency::text,
        NULL::bigint, cardinality(v_hold.seat_ids);
END
$$;

-- Undo checkout_begin after a decline or a gateway failure: the hold stays
-- active (until it expires) and the payment records why.
CREATE OR REPLACE FUNCTION booking_checkout_fail(p_payment bigint, p_status text, p_error text, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_hold reservations_hold;
BEGIN
    SELECT h.* INTO v_hold FROM reservations_hold h
    WHERE h.id = (SELECT p.hold_id FROM reservations_payment p WHERE p.id = p_payment) FOR UPDATE;
    IF v_hold.status = 'active' AND v_hold.paying_until IS NOT NULL THEN
        PERFORM booking_hold_paying_set(v_hold.id, NULL, p_now);
    END IF;
    UPDATE reservations_payment SET status = p_status, error = left(p_error, 300), updated_at = p_now
    WHERE id = p_payment AND status = 'in_progress';
END
$$;

-- Checkout's last step, after the gateway captured `p_charge`: if the hold
-- is still ours, sell its seats in one go (the order, one ticket per seat
-- with the codes given, seats sold, hold checked out, payment paid, the
-- confirmation e-mail queued in the outbox). Outcomes:
--   sold         one row per ticket, with what the answer shows
--   sold_before  `order_id`: reconciliation (or another run) sold it already
--   lost         the hold lapsed or was released meanwhile: give the charge back
CREATE OR REPLACE FUNCTION booking_sale(p_payment bigint, p_charge text, p_codes text[], p_now timestamptz)
RETURNS TABLE (
    outcome text, order_id bigint, event_id bigint, hold_id bigint, user_id bigint, total bigint, currency text,
    ticket_id bigint, code text, seat_id bigint, seat_section text, seat_row text, seat_number integer, grade text,
    price integer
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_hold reservations_hold;
    v_payment reservations_payment;
    v_ours integer;
    v_order bigint;
BEGIN
    SELECT h.* INTO v_hold FROM reservations_hold h
    WHERE h.id = (SELECT p.hold_id FROM reservations_payment p WHERE p.id = p_payment) FOR UPDATE;
    SELECT p.* INTO v_payment FROM reservations_payment p WHERE p.id = p_payment FOR UPDATE;
    IF v_payment.status = 'paid' THEN
        RETURN QUERY SELECT 'sold_before', v_payment.order_id, v_hold.event_id, v_hold.id, v_hold.user_id::bigint, NULL::bigint,
            NULL, NULL::bigint, NULL, NULL::bigint, NULL, NULL, NULL::integer, NULL, NULL::integer;
        RETURN;
    END IF;

    SELECT count(*) INTO v_ours FROM (
        SELECT s.id, s.status, s.hold_id FROM reservations_seat s WHERE s.id = ANY(v_hold.seat_ids) ORDER BY s.id FOR UPDATE
    ) locked WHERE locked.status = 'held' AND locked.hold_id = v_hold.id;
    IF v_payment.status <> 'in_progress' OR v_hold.status <> 'active' OR v_ours <> cardinality(v_hold.seat_ids) THEN
        UPDATE reservations_payment SET charge_id = p_charge, error = 'hold lost during payment' WHERE id = p_payment;
        RETURN QUERY SELECT 'lost', NULL::bigint, v_hold.event_id, v_hold.id, v_hold.user_id::bigint, NULL::bigint,
            NULL, NULL::bigint, NULL, NULL::bigint, NULL, NULL, NULL::integer, NULL, NULL::integer;
        RETURN;
    END IF;

    INSERT INTO reservations_order (event_id, user_id, hold_id, status, total, currency, created_at, updated_at)
    VALUES (v_hold.event_id, v_hold.user_id, v_hold.id, 'paid', v_hold.total, v_payment.currency, p_now, p_now)
    RETURNING id INTO v_order;
    UPDATE reservations_seat SET status = 'sold', held_until = NULL WHERE id = ANY(v_hold.seat_ids);
    UPDATE reservations_hold SET status = 'checked_out', paying_until = NULL, updated_at = p_now WHERE id = v_hold.id;
    UPDATE reservations_payment SET status = 'paid', charge_id = p_charge, order_id = v_order, updated_at = p_now
    WHERE id = p_payment;
    INSERT INTO reservations_confirmation (order_id, status, "to", attempts, last_error, created_at, updated_at)
    SELECT v_order, 'pending', u.email, 0, '', p_now, p_now FROM auth_user u WHERE u.id = v_hold.user_id;

    RETURN QUERY
    WITH seat AS (
        SELECT s.id, s.section, s.row, s.number, g.code AS grade, g.price, row_number() OVER (ORDER BY s.id) AS n
        FROM reservations_seat s JOIN reservations_pricegrade g ON g.id = s.grade_id WHERE s.id = ANY(v_hold.seat_ids)
    ), ticket AS (
        INSERT INTO reservations_ticket (order_id, event_id, user_id, seat_id, code, price, status, created_at)
        SELECT v_order, v_hold.event_id, v_hold.user_id, seat.id, p_codes[seat.n], seat.price, 'valid', p_now FROM seat
        RETURNING id, seat_id, code
    )
    SELECT 'sold'::text, v_order, v_hold.event_id, v_hold.id, v_hold.user_id::bigint, v_hold.total, v_payment.currency::text,
        ticket.id, ticket.code::text, seat.id, seat.section::text, seat.row::text, seat.number, seat.grade::text, seat.price
    FROM ticket JOIN seat ON seat.id = ticket.seat_id ORDER BY seat.id;
END
$$;
