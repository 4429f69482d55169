/** `log(2π)`, the normalising constant of a unit Gaussian is `0.5 * LOG_2PI` per dimension. */
export const LOG_2PI: number = Math.log(2 * Math.PI);
