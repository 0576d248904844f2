-- Desk bookings (issue 16; seed 003): desks with their weekly hours, closures and the operators
-- on duty; one counter row per slot that has been booked; the bookings themselves.
CREATE TABLE desks (
    id              TEXT PRIMARY KEY NOT NULL,
    name            TEXT NOT NULL,
    office          TEXT NOT NULL,
    -- web_meeting | pin_in_person | in_person | phone_callback
    kind            TEXT NOT NULL,
    -- IANA time zone of the opening hours, e.g. Europe/Rome
    time_zone       TEXT NOT NULL,
    -- weekly hours as JSON: [{"weekday":"tue","from":"09:00","to":"12:00"}, ...]
    opening         TEXT NOT NULL,
    -- 8 to 20 minutes
    slot_minutes    BIGINT NOT NULL,
    -- bookable with only a codice fiscale, no login (seed 003: the INPS Mobile app)
    guest_booking   BOOLEAN NOT NULL,
    -- where to go (in person); shown to the person
    location        TEXT,
    active          BOOLEAN NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);

-- Days a desk is closed (inclusive), with the notice shown on the calendar.
CREATE TABLE desk_closures (
    id              TEXT PRIMARY KEY NOT NULL,
    desk_id         TEXT NOT NULL REFERENCES desks (id),
    first_day       DATE NOT NULL,
    last_day        DATE NOT NULL,
    notice          TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      TIMESTAMP NOT NULL
);
CREATE INDEX desk_closures_desk ON desk_closures (desk_id, first_day);

-- Operators on duty at a desk on a day: the parallel capacity of each of its slots that day.
CREATE TABLE desk_duty (
    desk_id         TEXT NOT NULL REFERENCES desks (id),
    day             DATE NOT NULL,
    operator_id     TEXT NOT NULL REFERENCES operators (id),
    PRIMARY KEY (desk_id, day, operator_id)
);
CREATE INDEX desk_duty_operator ON desk_duty (operator_id);

-- One row per slot once someone booked it: places are taken with one conditional
-- UPDATE ... SET taken = taken + 1 WHERE taken < capacity, so parallel bookings cannot
-- overfill a slot.
CREATE TABLE booking_slots (
    desk_id         TEXT NOT NULL REFERENCES desks (id),
    starts_at       TIMESTAMP NOT NULL,
    capacity        BIGINT NOT NULL,
    taken           BIGINT NOT NULL,
    PRIMARY KEY (desk_id, starts_at)
);

-- One row per person who ever booked: the row a booking locks first, so that the count of a
-- person's open bookings cannot be overtaken by a parallel booking of the same person.
CREATE TABLE booking_people (
    person_cf       TEXT PRIMARY KEY NOT NULL,
    touched_at      TIMESTAMP NOT NULL
);

CREATE TABLE bookings (
    id                      TEXT PRIMARY KEY NOT NULL,
    -- the booking code the person is told
    reference               TEXT NOT NULL UNIQUE,
    desk_id                 TEXT NOT NULL REFERENCES desks (id),
    desk_kind               TEXT NOT NULL,
    starts_at               TIMESTAMP NOT NULL,
    ends_at                 TIMESTAMP NOT NULL,
    -- who the booking is for (for a web meeting: the delegate)
    person_cf               TEXT NOT NULL,
    -- person (logged in) | guest (codice fiscale only) | operator (on the phone)
    booked_via              TEXT NOT NULL,
    booked_by               TEXT,
    -- guests manage their booking with a random token; only its SHA-256 is kept
    guest_token_hash        TEXT,
    -- held | confirmed | cancelled | expired | concluded | completed | closed
    status                  TEXT NOT NULL,
    hold_expires_at         TIMESTAMP,
    reason                  TEXT,
    mobile                  TEXT,
    email                   TEXT,
    -- web meeting: the delegator the delegate will come with
    delegator_cf            TEXT,
    delegator_given_name    TEXT,
    delegator_family_name   TEXT,
    confirmed_at            TIMESTAMP,
    reminder_sent           BOOLEAN NOT NULL,
    -- the person asked to join (web meeting waiting room)
    waiting_since           TIMESTAMP,
    -- the operator who took the booking in charge
    handled_by              TEXT,
    handled_at              TIMESTAMP,
    ended_at                TIMESTAMP,
    end_reason              TEXT,
    created_at              TIMESTAMP NOT NULL,
    updated_at              TIMESTAMP NOT NULL
);
CREATE INDEX bookings_desk_start ON bookings (desk_id, starts_at, status);
CREATE INDEX bookings_person ON bookings (person_cf, status);
CREATE INDEX bookings_status_start ON bookings (status, starts_at);
-- One open booking per desk type per person (seed 003): the database refuses a second.
CREATE UNIQUE INDEX bookings_one_per_kind ON bookings (person_cf, desk_kind)
    WHERE status IN ('held', 'confirmed');
