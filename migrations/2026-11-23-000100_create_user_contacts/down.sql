DROP TABLE user_contacts;
