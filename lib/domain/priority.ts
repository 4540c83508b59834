import * as z from 'zod';

/**
 * The priority levels, lowest first (a level's rank is its place here): a job's (config/jobs.json), a rule's
 * setPriority, a request's override and the capacity input's all take one of these.
 */
export const PRIORITY_LEVELS = ['low', 'normal', 'high'] as const;
export const PrioritySchema = z.enum(PRIORITY_LEVELS);
export type Priority = (typeof PRIORITY_LEVELS)[number];

/** Higher ranks first: 0 for low, 2 for high. */
export const priorityRank = (priority: Priority): number => PRIORITY_LEVELS.indexOf(priority);
