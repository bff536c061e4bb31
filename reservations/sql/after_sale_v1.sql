-- After the sale, version 1.
--
-- Installed by migration 0008_after_sale; a released file never changes
-- (see booking_v1.sql). A ticket now has a third status, `checked_in`, and
-- a checked-in ticket is still a ticket bought: the per-person count of
-- booking_v1.sql, which knew only `valid`, is replaced here by one that
-- counts every ticket that is not void. Callers are unchanged
-- (booking_hold, through reservations.holds).

-- The per-person count: seats in the person's live holds plus seats bought
-- (tickets valid or checked in).
CREATE OR REPLACE FUNCTION booking_shopper_seats(p_event bigint, p_user bigint, p_now timestamptz)
RETURNS integer LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT count(*) FROM reservations_seat s JOIN reservations_hold h ON h.id = s.hold_id
        WHERE h.user_id = p_user AND h.event_id = p_event AND h.status = 'active'
          AND s.status = 'held' AND NOT booking_seat_free(s.status, s.held_until, p_now)
    ) + (
        SELECT count(*) FROM reservations_ticket t
        WHERE t.user_id = p_user AND t.event_id = p_event AND t.status IN ('valid', 'checked_in')
    );
END
$$;
