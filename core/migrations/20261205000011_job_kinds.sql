-- A job's kind is one of its lanes; core reads it as an enum.
alter table jobs add constraint jobs_kind_check check (kind in ('deploy', 'build'));
