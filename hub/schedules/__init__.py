"""On-call schedules at run time: overrides and swaps, the schedule views, iCalendar feeds."""
