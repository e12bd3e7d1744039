DROP TABLE notification_writers;
