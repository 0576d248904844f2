DROP TABLE bookings;
DROP TABLE booking_people;
DROP TABLE booking_slots;
DROP TABLE desk_duty;
DROP TABLE desk_closures;
DROP TABLE desks;
