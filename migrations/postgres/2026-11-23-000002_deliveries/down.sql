DROP TABLE dead_letters;
DROP TABLE delivery_attempts;
