/** The Cool-Fusion loop. */
package dev.coolfusion.core;
