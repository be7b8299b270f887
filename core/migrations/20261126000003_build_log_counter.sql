-- How many log lines a build has. Writers (the worker, a cancel from any process) take the next
-- sequence numbers by bumping it under the build's row lock, so lines never collide, and a
-- batch that arrives after the build finished (a cancel won the race) is dropped.
alter table builds add column log_lines integer not null default 0;
update builds b set log_lines = (select coalesce(max(seq), 0) from build_log_lines l where l.build_id = b.id);
